package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// root is the repository root, from this package's directory.
const root = "../.."

// block is one parsed block with the source it came from.
type block struct {
	*hclsyntax.Block
	src []byte
}

// tf is every top-level block of terraform/.
type tf struct {
	blocks []block
	text   string // all files, for whole-text checks
}

func loadTerraform(t *testing.T) *tf {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "terraform", "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no terraform files: %v", err)
	}
	p := hclparse.NewParser()
	out := &tf{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		for _, b := range file.Body.(*hclsyntax.Body).Blocks {
			out.blocks = append(out.blocks, block{b, src})
		}
		out.text += string(src)
	}
	return out
}

// resources are the resource blocks of one type.
func (t *tf) resources(typ string) []block {
	var out []block
	for _, b := range t.blocks {
		if b.Type == "resource" && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

func (t *tf) resource(tt *testing.T, typ, name string) block {
	tt.Helper()
	for _, b := range t.resources(typ) {
		if b.Labels[1] == name {
			return b
		}
	}
	tt.Fatalf("no resource %s.%s", typ, name)
	return block{}
}

// nested is the first nested block of that type, or a zero block.
func (b block) nested(typ string) block {
	if b.Block == nil {
		return block{}
	}
	for _, n := range b.Body.Blocks {
		if n.Type == typ || (n.Type == "dynamic" && len(n.Labels) == 1 && n.Labels[0] == typ) {
			return block{n, b.src}
		}
	}
	return block{}
}

func (b block) all(typ string) []block {
	var out []block
	for _, n := range b.Body.Blocks {
		if n.Type == typ || (n.Type == "dynamic" && len(n.Labels) == 1 && n.Labels[0] == typ) {
			out = append(out, block{n, b.src})
		}
	}
	return out
}

// path follows nested blocks: b.path("template", "containers").
func (b block) path(types ...string) block {
	for _, typ := range types {
		if b.Block == nil {
			return b
		}
		if b.Type == "dynamic" {
			b = b.nested("content")
		}
		b = b.nested(typ)
	}
	return b
}

func (b block) has(name string) bool {
	if b.Block == nil {
		return false
	}
	_, ok := b.Body.Attributes[name]
	return ok
}

// source is an attribute's expression as written.
func (b block) source(name string) string {
	if b.Block == nil {
		return ""
	}
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	r := a.Expr.Range()
	return string(r.SliceBytes(b.src))
}

// literal is an attribute's value when it needs no variables.
func (b block) literal(name string) cty.Value {
	if b.Block == nil {
		return cty.NilVal
	}
	a, ok := b.Body.Attributes[name]
	if !ok {
		return cty.NilVal
	}
	v, diags := a.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		return cty.NilVal
	}
	return v
}

func (b block) str(name string) string {
	v := b.literal(name)
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func (b block) isTrue(name string) bool {
	v := b.literal(name)
	return v != cty.NilVal && v.Type() == cty.Bool && v.True()
}

func (b block) isFalse(name string) bool {
	v := b.literal(name)
	return v != cty.NilVal && v.Type() == cty.Bool && v.False()
}

func (b block) name() string { return strings.Join(b.Labels, ".") }

func TestProvidersArePinned(t *testing.T) {
	tf := loadTerraform(t)
	var found int
	for _, b := range tf.blocks {
		if b.Type != "terraform" {
			continue
		}
		if !b.has("required_version") {
			t.Error("terraform.required_version is not set")
		}
		rp := b.nested("required_providers")
		for name, a := range rp.Body.Attributes {
			found++
			src := string(a.Expr.Range().SliceBytes(b.src))
			if !regexp.MustCompile(`version\s*=\s*"~>\s*\d+\.\d+"`).MatchString(src) {
				t.Errorf("provider %s is not pinned to a minor series: %s", name, src)
			}
		}
	}
	if found == 0 {
		t.Error("no required_providers")
	}
}

func TestVariablesAreTypedAndDescribed(t *testing.T) {
	tf := loadTerraform(t)
	n := 0
	for _, b := range tf.blocks {
		if b.Type != "variable" {
			continue
		}
		n++
		if !b.has("type") || b.str("description") == "" {
			t.Errorf("variable %s needs a type and a description", b.name())
		}
	}
	// What the issue lists, at least.
	for _, v := range []string{"project_id", "region", "domains", "image", "clients", "alert_email", "retention_days",
		"min_instances", "max_instances", "cpu", "memory", "concurrency", "rate_limit", "kms_key_name"} {
		if !slices.ContainsFunc(tf.blocks, func(b block) bool { return b.Type == "variable" && b.Labels[0] == v }) {
			t.Errorf("no variable %s", v)
		}
	}
	if n == 0 {
		t.Fatal("no variables")
	}
}

func TestCloudRunIsReachableOnlyThroughTheLoadBalancer(t *testing.T) {
	tf := loadTerraform(t)
	for _, s := range tf.resources("google_cloud_run_v2_service") {
		if in := s.str("ingress"); in == "" || in == "INGRESS_TRAFFIC_ALL" {
			t.Errorf("%s: ingress %q", s.name(), in)
		}
		if s.has("invoker_iam_disabled") && !s.isTrue("invoker_iam_disabled") && s.source("invoker_iam_disabled") != "false" {
			t.Errorf("%s: invoker_iam_disabled must be a literal", s.name())
		}
		if !s.isTrue("deletion_protection") {
			t.Errorf("%s: deletion_protection", s.name())
		}
		if s.path("template").str("service_account") == "" && s.path("template").source("service_account") == "" {
			t.Errorf("%s: no service account of its own", s.name())
		}
	}
	c := tf.resource(t, "google_cloud_run_v2_service", "capture")
	if c.str("ingress") != "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" || !c.isTrue("default_uri_disabled") {
		t.Errorf("capture: ingress %q, default_uri_disabled %v", c.str("ingress"), c.source("default_uri_disabled"))
	}
	tmpl := c.path("template")
	if tmpl.str("execution_environment") != "EXECUTION_ENVIRONMENT_GEN2" {
		t.Error("capture: not gen2")
	}
	// gen2 lets Chrome make its user namespaces (docs/security.md): the
	// sandbox stays on unless the operator turns it off.
	if !slices.ContainsFunc(tf.blocks, func(b block) bool {
		return b.Type == "variable" && b.Labels[0] == "chrome_no_sandbox" && b.isFalse("default")
	}) {
		t.Error("chrome_no_sandbox must be a variable that defaults to false")
	}
	if tmpl.source("max_instance_request_concurrency") != "var.concurrency" ||
		!regexp.MustCompile(`MAX_CONCURRENCY\s*=\s*tostring\(var\.concurrency\)`).MatchString(tf.text) {
		t.Error("capture: request concurrency and MAX_CONCURRENCY must both be var.concurrency")
	}
	if !tmpl.has("timeout") || tmpl.path("scaling").source("max_instance_count") != "var.max_instances" ||
		tmpl.path("scaling").source("min_instance_count") != "var.min_instances" {
		t.Error("capture: timeout and scaling")
	}
	ctr := tmpl.path("containers")
	if ctr.path("startup_probe", "http_get").str("path") != "/health/ready" || ctr.path("liveness_probe", "http_get").str("path") != "/health/live" {
		t.Error("capture: probes must use /health/ready and /health/live")
	}
	limits := ctr.path("resources").source("limits")
	if !strings.Contains(limits, "var.cpu") || !strings.Contains(limits, "var.memory") {
		t.Errorf("capture: limits %s", limits)
	}
}

func TestLoadBalancerTLSAndEdge(t *testing.T) {
	tf := loadTerraform(t)
	for _, p := range tf.resources("google_compute_ssl_policy") {
		if prof := p.str("profile"); prof != "MODERN" && prof != "RESTRICTED" {
			t.Errorf("%s: profile %q", p.name(), prof)
		}
		if v := p.str("min_tls_version"); v != "TLS_1_2" && v != "TLS_1_3" {
			t.Errorf("%s: min_tls_version %q", p.name(), v)
		}
	}
	for _, p := range tf.resources("google_compute_target_https_proxy") {
		if !strings.HasPrefix(p.source("ssl_policy"), "google_compute_ssl_policy.") {
			t.Errorf("%s: no SSL policy", p.name())
		}
	}
	for _, r := range tf.resources("google_compute_global_forwarding_rule") {
		target := r.source("target")
		if r.str("port_range") == "80" && !strings.Contains(target, "google_compute_target_http_proxy.") {
			t.Errorf("%s: port 80 must only redirect", r.name())
		}
	}
	for _, m := range tf.resources("google_compute_url_map") {
		if m.has("default_service") {
			continue
		}
		if !m.path("default_url_redirect").isTrue("https_redirect") {
			t.Errorf("%s: neither a service nor an HTTPS redirect", m.name())
		}
	}
	for _, b := range tf.resources("google_compute_backend_service") {
		if !strings.HasPrefix(b.source("security_policy"), "google_compute_security_policy.") {
			t.Errorf("%s: no Cloud Armor policy", b.name())
		}
		if !b.path("log_config").isTrue("enable") {
			t.Errorf("%s: access logging off", b.name())
		}
		if !strings.Contains(b.source("custom_response_headers"), "Strict-Transport-Security") {
			t.Errorf("%s: no HSTS", b.name())
		}
	}
	armor := tf.resource(t, "google_compute_security_policy", "edge")
	var ban, perKey bool
	for _, r := range armor.all("rule") {
		body := r
		if r.Type == "dynamic" {
			body = r.nested("content")
		}
		opts := body.path("rate_limit_options")
		if body.str("action") == "rate_based_ban" && opts.str("enforce_on_key") == "IP" {
			ban = true
		}
		if opts.str("enforce_on_key") == "HTTP_HEADER" && strings.EqualFold(opts.str("enforce_on_key_name"), "Authorization") {
			perKey = true
		}
	}
	if !ban || !perKey {
		t.Errorf("Cloud Armor: per-IP ban %v, per-key throttle %v", ban, perKey)
	}
	if !strings.Contains(tf.text, "evaluatePreconfiguredWaf(") {
		t.Error("Cloud Armor: no preconfigured WAF rule")
	}
}

func TestBucket(t *testing.T) {
	tf := loadTerraform(t)
	b := tf.resource(t, "google_storage_bucket", "captures")
	if !b.isTrue("uniform_bucket_level_access") || b.str("public_access_prevention") != "enforced" || !b.isFalse("force_destroy") {
		t.Error("bucket: uniform access, public access prevention and no force_destroy")
	}
	lr := b.nested("lifecycle_rule")
	if lr.path("action").str("type") != "Delete" || lr.path("condition").source("age") != "var.retention_days" {
		t.Error("bucket: lifecycle must delete at var.retention_days")
	}
	if !b.nested("soft_delete_policy").has("retention_duration_seconds") {
		t.Error("bucket: no soft delete policy")
	}
	if b.nested("encryption").Block == nil {
		t.Error("bucket: no optional CMEK")
	}
	if !regexp.MustCompile(`(?s)google_project_iam_audit_config.*storage\.googleapis\.com.*DATA_READ`).MatchString(tf.text) {
		t.Error("bucket: no data access audit logs")
	}
}

// primitive are the basic roles no binding may use.
var primitive = []string{"roles/owner", "roles/editor", "roles/viewer"}

func TestLeastPrivilege(t *testing.T) {
	tf := loadTerraform(t)
	for _, public := range []string{"allUsers", "allAuthenticatedUsers"} {
		if strings.Contains(tf.text, public) {
			t.Errorf("%s appears in terraform/", public)
		}
	}
	for _, b := range tf.blocks {
		if b.Type != "resource" {
			continue
		}
		typ := b.Labels[0]
		// Authoritative bindings would silently remove everyone else's.
		if strings.HasSuffix(typ, "_iam_policy") || strings.HasSuffix(typ, "_iam_binding") {
			t.Errorf("%s: authoritative IAM", b.name())
		}
		if !strings.HasSuffix(typ, "_iam_member") {
			continue
		}
		role := b.str("role")
		if slices.Contains(primitive, role) || strings.HasSuffix(role, ".admin") || strings.HasSuffix(role, "Admin") {
			t.Errorf("%s: role %s", b.name(), role)
		}
		if typ == "google_project_iam_member" {
			// The only project-wide grants: writing logs, listing secret
			// metadata (custom role), and reading Cloud Build's source
			// bucket (conditioned on that bucket, which gcloud creates).
			switch {
			case role == "roles/logging.logWriter":
			case strings.Contains(b.source("role"), "google_project_iam_custom_role.secret_lister"):
			case strings.Contains(b.source("role"), "google_project_iam_custom_role.monitor_jobs") &&
				b.source("member") == "google_service_account.run.member":
				// Cloud Scheduler jobs have no IAM of their own (monitors.tf).
			case role == "roles/storage.objectViewer" && strings.Contains(b.nested("condition").source("expression"), "_cloudbuild"):
			case (role == "roles/monitoring.metricWriter" || role == "roles/cloudtrace.agent") &&
				b.source("member") == "google_service_account.run.member":
				// Metrics and spans, written by the service only.
			default:
				t.Errorf("%s: project-wide grant of %s %s", b.name(), role, b.source("role"))
			}
		}
	}
	// The service writes its metrics and spans (METRICS_EXPORTER=gcp) and
	// can read neither back.
	for name, want := range map[string]string{"run_metric_writer": "roles/monitoring.metricWriter", "run_trace_agent": "roles/cloudtrace.agent"} {
		if r := tf.resource(t, "google_project_iam_member", name); r.str("role") != want || r.source("member") != "google_service_account.run.member" {
			t.Errorf("%s: %s for %s, want %s for the run account", name, r.str("role"), r.source("member"), want)
		}
	}
	if !regexp.MustCompile(`METRICS_EXPORTER\s*=\s*"gcp"`).MatchString(tf.text) {
		t.Error("the service is not deployed with METRICS_EXPORTER=gcp")
	}
	// The capture service's bucket role is exactly create/get/delete.
	role := tf.resource(t, "google_project_iam_custom_role", "capture_objects")
	if got := role.source("permissions"); got != `["storage.objects.create", "storage.objects.get", "storage.objects.delete"]` {
		t.Errorf("capture_objects permissions %s", got)
	}
	if tf.resource(t, "google_storage_bucket_iam_member", "run_objects").source("role") != "google_project_iam_custom_role.capture_objects.id" {
		t.Error("the bucket binding is not the custom role")
	}
	// The capture service reads the client secrets and the signing secret.
	if !regexp.MustCompile(`(?s)run_secrets = merge\(.*google_secret_manager_secret\.client.*google_secret_manager_secret\.url_signing`).MatchString(tf.text) ||
		!strings.Contains(tf.text, `["roles/secretmanager.secretAccessor", "roles/secretmanager.viewer"]`) ||
		tf.resource(t, "google_secret_manager_secret_iam_member", "run_reads").source("for_each") != "local.run_secret_grants" {
		t.Error("the run account needs accessor and viewer on the client secrets and the signing secret, and only there")
	}
	// The rotation function adds, lists, enables and disables versions of
	// the client secrets, and never destroys one.
	rot := tf.resource(t, "google_secret_manager_secret_iam_member", "rotate_versions")
	if rot.source("for_each") != "google_secret_manager_secret.client" || rot.source("role") != "google_project_iam_custom_role.key_rotator.id" {
		t.Error("rotate_versions must be the key_rotator role on the client secrets")
	}
	if got := tf.resource(t, "google_project_iam_custom_role", "key_rotator").source("permissions"); got != `["secretmanager.versions.add", "secretmanager.versions.list", "secretmanager.versions.enable", "secretmanager.versions.disable"]` ||
		strings.Contains(tf.text, "secretVersionManager") {
		t.Errorf("key_rotator permissions %s (no versions.destroy, no Version Manager)", got)
	}
	// URL signing holds signBlob and nothing else: Token Creator would let
	// the account mint tokens for itself.
	if tf.resource(t, "google_service_account_iam_member", "run_signs_as_itself").source("role") != "google_project_iam_custom_role.url_signer.id" {
		t.Error("the run account must sign URLs as itself through the signBlob-only role")
	}
	if got := tf.resource(t, "google_project_iam_custom_role", "url_signer").source("permissions"); got != `["iam.serviceAccounts.signBlob"]` {
		t.Errorf("url_signer permissions %s", got)
	}
	if strings.Count(tf.text, `"roles/iam.serviceAccountTokenCreator"`) != 1 ||
		tf.resource(t, "google_service_account_iam_member", "pubsub_tokens_for_events").str("role") != "roles/iam.serviceAccountTokenCreator" {
		t.Error("Token Creator is granted only to Pub/Sub's agent, for Eventarc's push tokens")
	}
}

// Memorystore answers only with AUTH over TLS; the service reads the AUTH
// string from Secret Manager and trusts the instance's CA.
func TestRedisAuthAndTLS(t *testing.T) {
	tf := loadTerraform(t)
	r := tf.resource(t, "google_redis_instance", "ratelimit")
	if r.source("auth_enabled") != "true" || r.str("transit_encryption_mode") != "SERVER_AUTHENTICATION" {
		t.Error("Memorystore needs auth_enabled and SERVER_AUTHENTICATION transit encryption")
	}
	if !strings.Contains(tf.text, `"rediss://${google_redis_instance.ratelimit[0].host}`) ||
		!regexp.MustCompile(`REDIS_CA_CERT\s+= var\.redis_enabled \? google_redis_instance\.ratelimit\[0\]\.server_ca_certs\[0\]\.cert`).MatchString(tf.text) {
		t.Error("the service must reach Redis over TLS (rediss://) with the instance's CA")
	}
	if !regexp.MustCompile(`(?s)name = "REDIS_PASSWORD"\s*value_source \{\s*secret_key_ref \{\s*secret\s*= google_secret_manager_secret\.redis_auth\[0\]\.secret_id`).MatchString(tf.text) {
		t.Error("REDIS_PASSWORD must come from the redis_auth secret")
	}
	if tf.resource(t, "google_secret_manager_secret_iam_member", "run_reads_redis_auth").str("role") != "roles/secretmanager.secretAccessor" {
		t.Error("the run account must read the AUTH secret")
	}
	if !strings.Contains(tf.text, `TRUSTED_PROXY_HOPS = "1"`) {
		t.Error("behind the load balancer the service must trust exactly one proxy hop")
	}
}

func TestSecretsAreShellsOnly(t *testing.T) {
	tf := loadTerraform(t)
	// The one exception: the Redis AUTH string, which the instance resource
	// holds in the state anyway.
	vs := tf.resources("google_secret_manager_secret_version")
	if len(vs) != 1 || vs[0].Labels[1] != "redis_auth" || vs[0].source("secret_data") != "google_redis_instance.ratelimit[0].auth_string" ||
		strings.Count(tf.text, "secret_data") != 1 {
		t.Error("a secret value in Terraform would be in its state (only the Redis AUTH string, already there, may be)")
	}
	c := tf.resource(t, "google_secret_manager_secret", "client")
	if !strings.Contains(c.source("labels"), `"pixashot-client" = each.key`) {
		t.Errorf("client secrets must be labelled pixashot-client: %s", c.source("labels"))
	}
	if !c.nested("rotation").has("rotation_period") || !strings.Contains(c.nested("topics").source("name"), "google_pubsub_topic.") {
		t.Error("client secrets need a rotation schedule publishing to a topic")
	}
	trig := tf.resource(t, "google_eventarc_trigger", "rotation")
	if !strings.Contains(trig.path("destination", "cloud_run_service").source("service"), "google_cloud_run_v2_service.rotate") {
		t.Error("rotation events must reach the rotation function")
	}
}

func TestMonitoring(t *testing.T) {
	tf := loadTerraform(t)
	policies := tf.resources("google_monitoring_alert_policy")
	// The 5xx ratio, one per Cloud Run metric, one per log event.
	if tf.resource(t, "google_monitoring_alert_policy", "metrics").source("for_each") != "local.alerts" ||
		!strings.Contains(tf.text, "local.metric_alerts : k =>") || !strings.Contains(tf.text, "local.service_alerts,") ||
		tf.resource(t, "google_monitoring_alert_policy", "events").source("for_each") != "local.log_events" {
		t.Error("alert policies must be made for every metric alert and log event")
	}
	_ = tf.resource(t, "google_monitoring_alert_policy", "error_ratio")
	for _, p := range policies {
		if !strings.Contains(p.source("notification_channels"), "google_monitoring_notification_channel.") {
			t.Errorf("%s: no notification channel", p.name())
		}
	}
	for _, want := range []string{"run.googleapis.com/request_latencies", "run.googleapis.com/container/memory/utilizations",
		"run.googleapis.com/container/instance_count", `response_code_class=\"5xx\"`} {
		if !strings.Contains(tf.text, want) {
			t.Errorf("no alert on %s", want)
		}
	}
	for _, event := range []string{"auth_failure", "egress_blocked"} {
		if !regexp.MustCompile(`(?m)^\s+` + event + `\s+=\s+\{`).MatchString(tf.text) {
			t.Errorf("no log-based metric and alert for event=%s", event)
		}
	}
	sink := tf.resource(t, "google_logging_project_sink", "audit")
	if !strings.Contains(sink.source("filter"), "logs/pixashot-audit") ||
		!strings.Contains(sink.source("destination"), "google_logging_project_bucket_config.audit") {
		t.Error("the audit log must be routed to its own log bucket")
	}
}

// Asynchronous captures: the queue bounds its dispatches and retries, the
// capture service may enqueue and name the tasks account and nothing more,
// the service is told both, and the backlog has an alert.
func TestCloudTasksQueue(t *testing.T) {
	tf := loadTerraform(t)
	q := tf.resource(t, "google_cloud_tasks_queue", "captures")
	if !q.nested("rate_limits").has("max_concurrent_dispatches") || q.nested("retry_config").source("max_attempts") != "local.tasks_max_attempts" ||
		!strings.Contains(tf.text, "TASKS_MAX_ATTEMPTS  = tostring(local.tasks_max_attempts)") {
		t.Error("the queue needs rate limits and retries bounded by attempts, and the service must know the bound (TASKS_MAX_ATTEMPTS)")
	}
	if e := tf.resource(t, "google_cloud_tasks_queue_iam_member", "run_enqueues"); e.str("role") != "roles/cloudtasks.enqueuer" ||
		e.source("member") != "google_service_account.run.member" {
		t.Error("the run account must be the queue's enqueuer")
	}
	if a := tf.resource(t, "google_service_account_iam_member", "run_acts_as_tasks"); a.str("role") != "roles/iam.serviceAccountUser" ||
		a.source("service_account_id") != "google_service_account.tasks.name" {
		t.Error("the run account must act as the tasks account, on that account only")
	}
	for _, want := range []string{"TASKS_QUEUE         = google_cloud_tasks_queue.captures.id",
		"TASKS_INVOKER_EMAIL = google_service_account.tasks.email", `TASKS_SERVICE_URL   = "https://${var.domains[0]}"`,
		"cloudtasks.googleapis.com/queue/task_attempt_delays", "cloudtasks.googleapis.com/queue/depth", `"cloudtasks.googleapis.com"`} {
		if !strings.Contains(tf.text, want) {
			t.Errorf("terraform/ lacks %s", want)
		}
	}
	// Each client's webhook keys: a labelled shell the run account reads.
	w := tf.resource(t, "google_secret_manager_secret", "client_webhook")
	if !strings.Contains(w.source("labels"), `"pixashot-webhook" = each.key`) || w.source("secret_id") != `"pixashot-webhook-${each.key}"` ||
		!strings.Contains(tf.text, `{ for c, sec in google_secret_manager_secret.client_webhook : "webhook:${c}" => sec.secret_id }`) {
		t.Error("client webhook secrets must be named and labelled as the service trusts them, and readable by the run account")
	}
}

// Monitors: the run account may manage Cloud Scheduler jobs and nothing
// more of it; the jobs call through Cloud Armor's internal-route rule.
func TestMonitorSchedules(t *testing.T) {
	tf := loadTerraform(t)
	role := tf.resource(t, "google_project_iam_custom_role", "monitor_jobs")
	if got := role.source("permissions"); got != `["cloudscheduler.jobs.create", "cloudscheduler.jobs.update", "cloudscheduler.jobs.get", "cloudscheduler.jobs.delete"]` {
		t.Errorf("the monitor jobs role grants %s", got)
	}
	g := tf.resource(t, "google_project_iam_member", "run_monitor_jobs")
	if g.source("role") != "google_project_iam_custom_role.monitor_jobs.id" || g.source("member") != "google_service_account.run.member" ||
		g.source("count") != "var.monitors_max > 0 ? 1 : 0" {
		t.Error("the run account alone holds the monitor jobs role, and only with monitors on")
	}
	for _, want := range []string{`"cloudscheduler.googleapis.com"`, "MONITORS_MAX         = tostring(var.monitors_max)",
		"SCHEDULER_JOB_PREFIX = local.monitor_job_prefix", `request.path == '/internal/tasks/monitor'`,
		`monitor_job_prefix = "${var.name}-monitor${var.name_suffix}-"`} {
		if !strings.Contains(tf.text, want) {
			t.Errorf("terraform/ lacks %s", want)
		}
	}
}

// TestServiceEnvironmentIsTheContract: every variable Terraform sets is one
// the service reads, so a typo cannot silently fall back to a default.
func TestServiceEnvironmentIsTheContract(t *testing.T) {
	tf := loadTerraform(t)
	cfg, err := os.ReadFile(filepath.Join(root, "internal", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	var locals block
	for _, b := range tf.blocks {
		if b.Type == "locals" && b.has("env_all") {
			locals = b
		}
	}
	if locals.Block == nil {
		t.Fatal("no local.env_all")
	}
	obj, ok := locals.Body.Attributes["env_all"].Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("env_all is not an object")
	}
	for _, item := range obj.Items {
		name := hcl.ExprAsKeyword(item.KeyExpr)
		if name == "" || !strings.Contains(string(cfg), `"`+name+`"`) {
			t.Errorf("env %q is not read by internal/config", name)
		}
	}
	if len(obj.Items) < 8 {
		t.Errorf("only %d variables", len(obj.Items))
	}
}

// var.clients cannot name the service's built-in principals, which the
// service would refuse as client secrets.
func TestClientsCannotBeReserved(t *testing.T) {
	tf := loadTerraform(t)
	for _, b := range tf.blocks {
		if b.Type != "variable" || b.Labels[0] != "clients" {
			continue
		}
		for _, v := range b.all("validation") {
			if strings.Contains(v.source("condition"), `["dev", "signed"]`) {
				return
			}
		}
	}
	t.Error("var.clients must refuse the reserved ids dev and signed")
}

// The instance's memory budget follows the memory Cloud Run gives it, less
// the service's reserve (internal/config's instanceReserveMB).
func TestInstanceMemoryFollowsTheLimit(t *testing.T) {
	tf := loadTerraform(t)
	re := regexp.MustCompile(`INSTANCE_MEMORY_MB\s+= tostring\(.*var\.memory.*\) - 384\)`)
	if !re.MatchString(tf.text) {
		t.Error("INSTANCE_MEMORY_MB must be var.memory in MB less 384")
	}
	cfg, _ := os.ReadFile(filepath.Join(root, "internal", "config", "config.go"))
	if !strings.Contains(string(cfg), "const instanceReserveMB = 384") {
		t.Error("the reserve in Terraform and in internal/config differ")
	}
}

// One egress address: Cloud NAT from a reserved static address, every
// connection through the VPC; or the operator's upstream proxy, whose URL
// (with its password) comes from a secret the run account alone may read.
func TestOneEgressAddress(t *testing.T) {
	tf := loadTerraform(t)
	nat := tf.resource(t, "google_compute_router_nat", "egress")
	if nat.str("nat_ip_allocate_option") != "MANUAL_ONLY" || !strings.Contains(nat.source("nat_ips"), "google_compute_address.egress[0]") ||
		nat.str("source_subnetwork_ip_ranges_to_nat") != "LIST_OF_SUBNETWORKS" {
		t.Error("Cloud NAT must use the reserved address only, for the egress subnet")
	}
	if a := tf.resource(t, "google_compute_address", "egress"); a.str("address_type") != "EXTERNAL" {
		t.Error("the egress address must be a reserved external address")
	}
	if !strings.Contains(tf.text, `egress = var.static_egress_ip ? "ALL_TRAFFIC" : "PRIVATE_RANGES_ONLY"`) {
		t.Error("with a static egress address every connection must go through the VPC")
	}
	if tf.resource(t, "google_compute_firewall", "egress_deny_private").source("count") != "local.vpc_enabled ? 1 : 0" {
		t.Error("the VPC's private ranges must stay closed whenever the service is in it")
	}
	if !regexp.MustCompile(`(?s)name = "UPSTREAM_PROXY"\s*value_source \{\s*secret_key_ref \{\s*secret\s*= var\.upstream_proxy_secret`).MatchString(tf.text) {
		t.Error("UPSTREAM_PROXY must come from Secret Manager")
	}
	m := tf.resource(t, "google_secret_manager_secret_iam_member", "run_reads_upstream_proxy")
	if m.source("secret_id") != "var.upstream_proxy_secret" || m.str("role") != "roles/secretmanager.secretAccessor" ||
		m.source("member") != "google_service_account.run.member" {
		t.Error("only the run account may read the upstream proxy's secret, and only that secret")
	}
}
