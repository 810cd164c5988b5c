# Cloud Armor on the backend: rate limits at the edge before a request costs
# a Chrome tab, WAF rules that do not fight the API, and optional IP lists.
#
# Left out on purpose: the XSS, SQLi, LFI, RFI and RCE rule sets. Capture
# requests legitimately carry HTML, scripts (html_content, custom_js) and
# URLs in their bodies and queries; those sets would refuse normal captures.
# The service validates every option itself.

locals {
  waf_rules = {
    1000 = "methodenforcement-v33-stable"
    1001 = "scannerdetection-v33-stable"
    1002 = "protocolattack-v33-stable"
    1003 = "sessionfixation-v33-stable"
    1004 = "cve-canary"
  }
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
    for_each = length(var.deny_ip_ranges) > 0 ? [1] : []
    content {
      action      = "deny(403)"
      priority    = 100
      description = "Denied source ranges"
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = var.deny_ip_ranges
        }
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

  # One IP over its limit is banned for a while.
  rule {
    action      = "rate_based_ban"
    priority    = 500
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
    priority    = 600
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

  dynamic "rule" {
    for_each = local.waf_rules
    content {
      action      = "deny(403)"
      priority    = rule.key
      description = "WAF ${rule.value}"
      match {
        expr {
          expression = "evaluatePreconfiguredWaf('${rule.value}', {'sensitivity': 1})"
        }
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
}
