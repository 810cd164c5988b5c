package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// README's Deploy block is the first apply: the client secrets and a key
// exist before the service, whose startup probe needs a loaded key.
func TestDeploySequenceMakesKeysBeforeTheService(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	deploy := string(b)[strings.Index(string(b), "## Deploy"):]
	block := deploy[strings.Index(deploy, "```sh")+5:]
	block = block[:strings.Index(block, "```")]
	script := strings.ReplaceAll(block, "\\\n", " ") // continuation lines are one command
	find := func(re string) int {
		for i, line := range strings.Split(script, "\n") {
			if regexp.MustCompile(re).MatchString(line) {
				return i
			}
		}
		return -1
	}
	target := find(`terraform .*apply .*-target=google_secret_manager_secret\.client`)
	key := find(`keys create `)
	full := find(`terraform -chdir=terraform apply "\$\{VARS\[@\]\}"\s*(#.*)?$`)
	if target < 0 || key < 0 || full < 0 || !(target < key && key < full) {
		t.Fatalf("the Deploy steps must apply the client secrets (line %d), create a key (line %d), then apply everything (line %d):\n%s",
			target, key, full, block)
	}
	// New projects give Cloud Build's default account no roles: the first
	// image is built as the build account, made with its grants in the
	// targeted step, and a user-managed account must log somewhere.
	build := find(`gcloud builds submit .*--config cloudbuild\.yaml .*--service-account .*build_service_account.*_FIRST=true`)
	grants := find(`-target=google_artifact_registry_repository_iam_member\.build_push .*-target=google_project_iam_member\.build_log_writer`)
	if build < 0 || grants < 0 || !(grants < build && build < full) {
		t.Errorf("the first image must be built as the build account (line %d) after its grants are applied (line %d)", build, grants)
	}
	cb, _ := os.ReadFile(filepath.Join(root, "cloudbuild.yaml"))
	if !strings.Contains(string(cb), "logging: CLOUD_LOGGING_ONLY") || !strings.Contains(string(cb), `if [ "${_FIRST}" = true ]`) {
		t.Error("cloudbuild.yaml must log to Cloud Logging and leave the services alone for the first image")
	}
}

// Terraform and the service agree on key ages: a key lives a rotation
// period, the grace and a day; the grace is shorter than the period; each
// client's first rotation is counted from when the client was added.
func TestKeyLifetimes(t *testing.T) {
	tf := loadTerraform(t)
	if !strings.Contains(tf.text, `AUTH_TOKEN_MAX_AGE  = local.token_max_age`) ||
		!strings.Contains(tf.text, `token_max_age        = "${var.key_rotation_days * 24 + local.rotation_grace_hours + 24}h"`) {
		t.Error("AUTH_TOKEN_MAX_AGE must be derived from key_rotation_days and rotation_grace")
	}
	c := tf.resource(t, "google_secret_manager_secret", "client")
	if !strings.Contains(c.nested("lifecycle").nested("precondition").source("condition"), "local.rotation_grace_hours < var.key_rotation_days * 24") {
		t.Error("the client secrets must refuse a rotation_grace as long as the rotation period")
	}
	ts := tf.resource(t, "time_static", "rotation_start")
	if ts.source("for_each") != "local.client_secret_ids" ||
		!strings.Contains(c.nested("rotation").source("next_rotation_time"), "time_static.rotation_start[each.key]") {
		t.Error("next_rotation_time must come from a start time per client, made when the client is added")
	}
}

func TestCertificateNamedFromDomains(t *testing.T) {
	tf := loadTerraform(t)
	cert := tf.resource(t, "google_compute_managed_ssl_certificate", "capture")
	if !strings.Contains(cert.source("name"), `sha256(join(",", sort(var.domains)))`) {
		t.Errorf("with create_before_destroy the certificate's name must follow the domains: %s", cert.source("name"))
	}
}

// Alerts on log-based metrics wait until Monitoring knows the metrics.
func TestAlertsWaitForTheirMetrics(t *testing.T) {
	tf := loadTerraform(t)
	sleep := tf.resource(t, "time_sleep", "log_metrics_known")
	if !strings.Contains(sleep.source("triggers"), "google_logging_metric.events") || sleep.str("create_duration") == "" {
		t.Error("time_sleep.log_metrics_known must wait after the log metrics are created")
	}
	if !strings.Contains(tf.resource(t, "google_monitoring_alert_policy", "events").source("depends_on"), "time_sleep.log_metrics_known") {
		t.Error("the log-metric alerts must depend on the wait")
	}
}

func TestAuditLogBucket(t *testing.T) {
	tf := loadTerraform(t)
	for _, b := range tf.resources("google_project_iam_member") {
		if strings.Contains(b.source("member"), "writer_identity") {
			t.Errorf("%s: a same-project sink needs no grant, and its writer_identity can be empty", b.name())
		}
	}
	if tf.resource(t, "google_logging_project_bucket_config", "audit").source("locked") != "var.audit_bucket_locked" {
		t.Error("the audit bucket must be lockable (audit_bucket_locked)")
	}
	if !strings.Contains(tf.resource(t, "google_logging_project_exclusion", "audit_not_in_default").source("filter"), "pixashot-audit") {
		t.Error("pixashot-audit must be excluded from _Default")
	}
}

func TestFirstApplyGrantsAndSizes(t *testing.T) {
	tf := loadTerraform(t)
	src := tf.resource(t, "google_project_iam_member", "build_reads_source")
	if src.source("member") != "google_service_account.build.member" || !strings.Contains(src.nested("condition").source("expression"), "_cloudbuild") {
		t.Error("the build account must read the Cloud Build source bucket")
	}
	res := tf.resource(t, "google_cloud_run_v2_service", "rotate").path("template", "containers", "resources")
	if res.source("cpu_idle") != "true" || !strings.Contains(res.source("limits"), `"512Mi"`) {
		t.Errorf("the rotate service: cpu_idle %s, limits %s (gen2 needs 512Mi)", res.source("cpu_idle"), res.source("limits"))
	}
	// Every resource that needs an API waits for its enablement, and then
	// for the settle time (an API answers, and its agents exist, later).
	settle := tf.resource(t, "time_sleep", "apis_settle")
	if !strings.Contains(settle.source("depends_on"), "google_project_service.apis") || settle.str("create_duration") == "" {
		t.Error("time_sleep.apis_settle must wait after google_project_service.apis")
	}
	for _, typ := range []string{"google_service_account", "google_project_iam_custom_role", "google_secret_manager_secret",
		"google_pubsub_topic", "google_eventarc_trigger", "google_artifact_registry_repository", "google_cloud_run_v2_service",
		"google_compute_security_policy", "google_compute_global_address", "google_compute_network", "google_logging_metric",
		"google_logging_project_bucket_config", "google_logging_project_sink", "google_logging_project_exclusion",
		"google_monitoring_notification_channel", "google_monitoring_alert_policy", "google_storage_bucket", "google_redis_instance",
		"google_compute_managed_ssl_certificate", "google_compute_ssl_policy", "google_compute_backend_service"} {
		for _, b := range tf.resources(typ) {
			if !strings.Contains(b.source("depends_on"), "time_sleep.apis_settle") {
				t.Errorf("%s does not wait for the APIs to settle", b.name())
			}
		}
	}
}

// The Direct VPC egress subnet holds twice max_instances, at any value the
// variable allows; firewall rules carry no log_config (ignored there).
func TestEgressSubnetFitsMaxInstances(t *testing.T) {
	tf := loadTerraform(t)
	if tf.resource(t, "google_compute_subnetwork", "egress").source("ip_cidr_range") != "local.egress_cidr" ||
		!strings.Contains(tf.text, `egress_prefix = min(26, 32 - ceil(log(var.max_instances * 2 + 4, 2)))`) {
		t.Fatal("the egress subnet must be sized from max_instances")
	}
	for _, n := range []int{1, 10, 30, 31, 100, 1000} {
		prefix := 26
		for 1<<(32-prefix) < 2*n+4 {
			prefix--
		}
		if 1<<(32-prefix) < 2*n+4 || prefix > 26 {
			t.Errorf("max_instances %d: /%d", n, prefix)
		}
	}
	for _, b := range tf.resources("google_compute_firewall") {
		if b.nested("log_config").Block != nil {
			t.Errorf("%s: Direct VPC egress ignores firewall logging", b.name())
		}
	}
}

func TestCaptureSoftDeleteIsOffByDefault(t *testing.T) {
	tf := loadTerraform(t)
	if tf.resource(t, "google_storage_bucket", "captures").nested("soft_delete_policy").source("retention_duration_seconds") != "var.capture_soft_delete_days * 86400" {
		t.Error("the capture bucket's soft delete must follow capture_soft_delete_days")
	}
	for _, b := range tf.blocks {
		if b.Type == "variable" && b.Labels[0] == "capture_soft_delete_days" && b.source("default") != "0" {
			t.Error("capture_soft_delete_days must default to 0")
		}
	}
}

// Cloud Armor stops at the first matching rule, and a rate-based rule ends
// evaluation with its conform action. Walked in priority order, no rule may
// come after one that matches every request, deny lists and the WAF come
// before the rate limits, and the opted-out WAF signatures are the ones
// that refuse this API's own traffic.
func TestArmorRulesAreReachable(t *testing.T) {
	tf := loadTerraform(t)
	policy := tf.resource(t, "google_compute_security_policy", "edge")
	type rule struct {
		prio     int
		kind     string // deny-list, allow-list, waf, throttle, ban, default
		matchAll bool
	}
	var rules []rule
	for _, r := range policy.all("rule") {
		if r.Type == "dynamic" {
			continue // below
		}
		p, _ := strconv.Atoi(r.source("priority"))
		all := strings.Contains(r.nested("match").nested("config").source("src_ip_ranges"), `["*"]`)
		kind := map[string]string{"rate_based_ban": "ban", "throttle": "throttle", "allow": "default"}[r.str("action")]
		if kind == "default" && !all {
			// The one other allow: Cloud Tasks' deliveries, on the internal
			// route only, after the deny list.
			kind = "tasks"
			if e := r.nested("match").nested("expr").source("expression"); !strings.Contains(e, `request.path == '/internal/tasks/capture'`) ||
				!strings.Contains(e, "request.method == 'POST'") {
				t.Errorf("an allow rule at %d lets more through than Cloud Tasks' route: %s", p, e)
			}
		}
		rules = append(rules, rule{p, kind, all})
	}
	for _, d := range policy.all("rule") {
		if d.Type != "dynamic" {
			continue
		}
		c := d.nested("content")
		switch {
		case strings.Contains(d.source("for_each"), "deny_chunks"):
			rules = append(rules, rule{100, "deny-list", false})
		case strings.Contains(d.source("for_each"), "allow_ip_ranges"):
			p, _ := strconv.Atoi(c.source("priority"))
			rules = append(rules, rule{p, "allow-list", false})
		case strings.Contains(d.source("for_each"), "waf_rules"):
			for _, p := range regexp.MustCompile(`(?m)^\s*(\d+) = \{ set`).FindAllStringSubmatch(tf.text, -1) {
				n, _ := strconv.Atoi(p[1])
				rules = append(rules, rule{n, "waf", false})
			}
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].prio < rules[j].prio })
	var order []string
	for i, r := range rules {
		order = append(order, r.kind)
		// A rule that matches everything may be followed by the default only
		// (the per-IP ban allows what conforms, as the default does).
		if r.matchAll && r.kind != "default" && i < len(rules)-2 {
			t.Errorf("the %s rule at %d matches every request and shadows the %d rules after it", r.kind, r.prio, len(rules)-2-i)
		}
		if r.kind == "default" && i != len(rules)-1 {
			t.Errorf("the default rule is not last")
		}
	}
	last := func(k string) int { return slices.Index(order, k) }
	if !(last("deny-list") < last("tasks") && last("tasks") < last("allow-list") &&
		last("deny-list") < last("waf") && last("allow-list") < last("waf") && last("waf") < last("throttle") && last("throttle") < last("ban")) {
		t.Errorf("rule order %v: deny and allow lists, WAF, per-key throttle, per-IP ban", order)
	}
	if strings.Contains(tf.text, `"methodenforcement-`) {
		t.Error("the methodenforcement set is 911100 alone at sensitivity 1, which refuses DELETE: it must not be a rule")
	}
	if !regexp.MustCompile(`reserved_ip_range\s*= local\.redis_cidr`).MatchString(tf.text) || !strings.Contains(tf.text, `redis_cidr = "10.16.0.0/29"`) {
		t.Error("Memorystore's range must be reserved outside the egress subnet (10.8.0.0/13)")
	}
	for _, id := range []string{"id921110-protocolattack", "id921130-protocolattack"} {
		if !strings.Contains(tf.text, `"owasp-crs-v030301-`+id+`"`) {
			t.Errorf("WAF signature %s must be opted out (it refuses this API's own requests)", id)
		}
	}
	if !strings.Contains(tf.text, "chunklist(var.deny_ip_ranges, 10)") || !strings.Contains(tf.text, "length(var.allow_ip_ranges) <= 5") {
		t.Error("deny_ip_ranges must be split 10 to a rule and allow_ip_ranges limited to 5")
	}
	sec, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil || !strings.Contains(string(sec), "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER") {
		t.Error("docs/security.md must say what internal ingress admits")
	}
}

// Cloud Armor refuses a rule description over 64 characters, and the
// provider does not check it: plan passes and the whole policy fails at
// apply. Templated parts count at their longest (two digits each here).
func TestArmorDescriptionsFitTheAPI(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "terraform", "armor.tf"))
	if err != nil {
		t.Fatal(err)
	}
	descs := regexp.MustCompile(`(?m)^\s*description\s*=\s*"((?:[^"\\$]|\\.|\$\{[^}]*\})*)"`).FindAllStringSubmatch(string(b), -1)
	if len(descs) < 5 {
		t.Fatalf("found %d descriptions", len(descs))
	}
	for _, d := range descs {
		worst := regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(d[1], "NN")
		if len(worst) > 64 {
			t.Errorf("%q: %d characters, Cloud Armor allows 64", d[1], len(worst))
		}
	}
	// The deny rules' priorities stay below the Cloud Tasks rule's.
	v, _ := os.ReadFile(filepath.Join(root, "terraform", "variables.tf"))
	if !strings.Contains(string(v), "length(var.deny_ip_ranges) <= 500") {
		t.Error("deny_ip_ranges has no bound: 51 rules of 10 would collide with priority 150")
	}
}

// What a first apply in a new project under common organisation policies
// needs: waits after grants that the next resource relies on, service agents
// made rather than assumed, replicas and the log bucket in the region, and a
// suffix for names Google keeps after a destroy (issue 33's review).
func TestFirstApplyWaitsAndLocations(t *testing.T) {
	tf := loadTerraform(t)
	apis := tf.resource(t, "google_project_service", "apis").source("for_each")
	for _, api := range []string{"cloudresourcemanager.googleapis.com", "cloudkms.googleapis.com"} {
		if !strings.Contains(apis, api) {
			t.Errorf("%s is not enabled", api)
		}
	}
	waits := map[string][]string{ // a wait → the grants it follows
		"publisher_grant": {"google_pubsub_topic_iam_member.secretmanager_publishes"},
		"run_grants":      {"google_secret_manager_secret_iam_member.run_reads", "google_project_iam_member.run_secret_lister"},
		"event_grants":    {"google_service_account_iam_member.pubsub_tokens_for_events"},
	}
	for name, after := range waits {
		w := tf.resource(t, "time_sleep", name)
		for _, g := range after {
			if !strings.Contains(w.source("depends_on"), g) {
				t.Errorf("time_sleep.%s does not follow %s", name, g)
			}
		}
	}
	for _, c := range []struct{ typ, name, wait string }{
		{"google_secret_manager_secret", "client", "time_sleep.publisher_grant"},
		{"google_cloud_run_v2_service", "capture", "time_sleep.run_grants"},
		{"google_eventarc_trigger", "rotation", "time_sleep.event_grants"},
		{"google_eventarc_trigger", "rotation", "google_project_service_identity.agents"},
	} {
		if !strings.Contains(tf.resource(t, c.typ, c.name).source("depends_on"), c.wait) {
			t.Errorf("%s.%s does not wait for %s", c.typ, c.name, c.wait)
		}
	}
	if strings.Contains(tf.text, "@gcp-sa-") {
		t.Error("a service agent's address is built by hand: use google_project_service_identity")
	}
	probe := tf.resource(t, "google_cloud_run_v2_service", "capture").path("template", "containers", "startup_probe")
	budget, _ := strconv.Atoi(probe.source("period_seconds"))
	n, _ := strconv.Atoi(probe.source("failure_threshold"))
	if budget*n < 180 || budget*n > 240 {
		t.Errorf("the startup probe allows %d s; a first deploy needs 3-4 minutes (Cloud Run's most is 240)", budget*n)
	}
	for _, typ := range []string{"google_secret_manager_secret"} {
		for _, b := range tf.resources(typ) {
			r := b.path("replication", "user_managed", "replicas")
			if r.Block == nil || r.source("location") != "var.region" || b.path("replication", "auto").Block != nil {
				t.Errorf("%s: replicas must be user-managed in the region (gcp.resourceLocations)", b.name())
			}
		}
	}
	if loc := tf.resource(t, "google_logging_project_bucket_config", "audit").source("location"); loc != "var.region" {
		t.Errorf("the audit log bucket is in %s, not the region", loc)
	}
	for _, c := range []struct{ typ, name, attr string }{
		{"google_cloud_tasks_queue", "captures", "name"},
		{"google_logging_project_bucket_config", "audit", "bucket_id"},
		{"google_project_iam_custom_role", "secret_lister", "role_id"},
		{"google_project_iam_custom_role", "capture_objects", "role_id"},
		{"google_project_iam_custom_role", "url_signer", "role_id"},
		{"google_project_iam_custom_role", "key_rotator", "role_id"},
		{"google_project_iam_custom_role", "monitor_jobs", "role_id"},
	} {
		if !strings.Contains(tf.resource(t, c.typ, c.name).source(c.attr), "var.name_suffix") {
			t.Errorf("%s.%s's %s does not take var.name_suffix", c.typ, c.name, c.attr)
		}
	}
}
