# Cloud Armor on the backend: rate limits at the edge before a request costs
# a Chrome tab, WAF rules that do not fight the API, and optional IP lists.
#
# Left out on purpose: the XSS, SQLi, LFI, RFI and RCE rule sets. Capture
# requests legitimately carry HTML, scripts (html_content, custom_js) and
# URLs in their bodies and queries; those sets would refuse normal captures.
# The service validates every option itself.
#
# Cloud Armor stops at the first rule that matches, and a rate-based rule
# that matches ends evaluation with its conform action too. So: deny lists
# first (100s), then the WAF (301-304), then the per-key throttle for requests
# that carry a key (800), then the per-IP ban for everything else (900),
# then the default. deploycheck walks them in this order.

locals {
  # Each WAF set with the signatures that refuse this API's own traffic
  # opted out (with why):
  #
  # No methodenforcement set: at sensitivity 1 it is the one signature
  # 911100, which allows only GET/HEAD/POST/OPTIONS and so refuses
  # DELETE /captures/{id}, the data-deletion request; opted out, the rule
  # would do nothing. The service answers 405 to any method a route lacks.
  waf_rules = {
    301 = { set = "scannerdetection-v33-stable", opt_out = [] }
    302 = { set = "protocolattack-v33-stable", opt_out = [
      # 921110 and 921130 read HTTP syntax in bodies: html_content carries
      # "<html>", "<meta http-equiv>" and text that looks like a request.
      "owasp-crs-v030301-id921110-protocolattack",
      "owasp-crs-v030301-id921130-protocolattack",
    ] }
    303 = { set = "sessionfixation-v33-stable", opt_out = [] }
    304 = { set = "cve-canary", opt_out = [] }
  }
  # SRC_IPS_V1 takes at most 10 ranges per rule.
  deny_chunks = { for i, c in chunklist(var.deny_ip_ranges, 10) : i => c }
}

resource "google_compute_security_policy" "edge" {
  project     = var.project_id
  name        = "${var.name}-edge"
  description = "Pixashot edge policy"
  type        = "CLOUD_ARMOR"

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  advanced_options_config {
    json_parsing = "STANDARD"
    log_level    = "VERBOSE"
  }

  dynamic "rule" {
    for_each = local.deny_chunks
    content {
      action      = "deny(403)"
      priority    = 100 + rule.key
      description = "Denied source ranges (${rule.key + 1} of ${length(local.deny_chunks)})"
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = rule.value
        }
      }
    }
  }

  # Cloud Tasks delivers asynchronous captures, and Cloud Scheduler calls
  # when a monitor is due, from Google's addresses, with an OIDC token the
  # service checks: neither the source allow-list nor the per-IP and per-key
  # limits (a backlog drains in bursts) may refuse them.
  rule {
    action      = "allow"
    priority    = 150
    description = "Cloud Tasks and Scheduler to internal routes (OIDC checked)"
    match {
      expr {
        expression = "request.method == 'POST' && (request.path == '/internal/tasks/capture' || request.path == '/internal/tasks/monitor') && request.headers['authorization'].startsWith('Bearer ')"
      }
    }
  }

  dynamic "rule" {
    for_each = length(var.allow_ip_ranges) > 0 ? [1] : []
    content {
      action      = "deny(403)"
      priority    = 200
      description = "Only the allowed source ranges"
      match {
        expr {
          expression = "!(${join(" || ", [for r in var.allow_ip_ranges : "inIpRange(origin.ip, '${r}')"])})"
        }
      }
    }
  }

  dynamic "rule" {
    for_each = local.waf_rules
    content {
      action      = "deny(403)"
      priority    = rule.key
      description = "WAF ${rule.value.set}"
      match {
        expr {
          expression = length(rule.value.opt_out) == 0 ? "evaluatePreconfiguredWaf('${rule.value.set}', {'sensitivity': 1})" : "evaluatePreconfiguredWaf('${rule.value.set}', {'sensitivity': 1, 'opt_out_rule_ids': [${join(", ", [for id in rule.value.opt_out : "'${id}'"])}]})"
        }
      }
    }
  }

  # One IP over its limit is banned for a while: requests without a key
  # (signed URLs, health, strangers). A keyed request ends at the throttle.
  rule {
    action      = "rate_based_ban"
    priority    = 900
    description = "Per-IP rate limit with a ban"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.ban_duration_seconds
      rate_limit_threshold {
        count        = var.edge_rate_limit_per_ip
        interval_sec = 60
      }
      ban_threshold {
        count        = var.edge_rate_limit_per_ip * 2
        interval_sec = 60
      }
    }
  }

  # One key over its limit is throttled wherever it comes from.
  rule {
    action      = "throttle"
    priority    = 800
    description = "Per-key throttle on the Authorization header"
    match {
      expr {
        expression = "has(request.headers['authorization'])"
      }
    }
    rate_limit_options {
      conform_action      = "allow"
      exceed_action       = "deny(429)"
      enforce_on_key      = "HTTP_HEADER"
      enforce_on_key_name = "Authorization"
      rate_limit_threshold {
        count        = var.edge_rate_limit_per_key
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow (the service authenticates every request)"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [time_sleep.apis_settle]
}
