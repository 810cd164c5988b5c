locals {
  run_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.name}\""
  # Log events the service writes, each with a metric and an alert:
  # threshold per 5 minutes.
  log_events = {
    auth_failure = {
      threshold   = 50
      description = "Authentication failures (event=auth_failure): a leaked or guessed key, or a broken client. See the runbook: leaked key."
    }
    egress_blocked = {
      threshold   = 20
      description = "The egress guard refused a destination (event=egress_blocked): someone is probing internal addresses through captures. See the runbook: abuse."
    }
    browser_died = {
      threshold   = 3
      description = "Chrome died (event=browser_died): a crash loop or a hostile page. See the runbook: Chrome crash loop."
    }
    storage_error = {
      threshold   = 5
      description = "Capture storage failed (event=storage_error)."
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "${var.name} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "events" {
  for_each    = local.log_events
  project     = var.project_id
  name        = "${var.name}_${each.key}"
  description = each.value.description
  filter      = "${local.run_filter} AND jsonPayload.event = \"${each.key}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_monitoring_alert_policy" "events" {
  for_each              = local.log_events
  project               = var.project_id
  display_name          = "${var.name}: ${each.key}"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = each.value.description
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "${each.key} over ${each.value.threshold} in 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.events[each.key].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "error_ratio" {
  project               = var.project_id
  display_name          = "${var.name}: 5xx ratio"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = "More than 5% of requests answered 5xx for 5 minutes. Check event=browser_died and event=storage_error in the logs."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "5xx over 5% of requests"
    condition_prometheus_query_language {
      query               = "sum(rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${var.name}\",response_code_class=\"5xx\"}[5m])) / sum(rate(run_googleapis_com:request_count{monitored_resource=\"cloud_run_revision\",service_name=\"${var.name}\"}[5m])) > 0.05"
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }
}

resource "google_monitoring_alert_policy" "latency" {
  project               = var.project_id
  display_name          = "${var.name}: p95 latency"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = "The 95th percentile of request latency is above half the capture timeout."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "p95 latency"
    condition_threshold {
      filter          = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.capture_timeout_seconds * 500
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "memory" {
  project               = var.project_id
  display_name          = "${var.name}: memory"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = "An instance uses more than 85% of its memory: Chrome is close to being killed. Raise memory or lower concurrency."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "memory utilization over 85%"
    condition_threshold {
      filter          = "${local.run_filter} AND metric.type = \"run.googleapis.com/container/memory/utilizations\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0.85
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_PERCENTILE_99"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "instances" {
  project               = var.project_id
  display_name          = "${var.name}: instances near the maximum"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = "Instances are above 80% of max_instances: requests will soon queue and answer 503. Abuse (see the runbook) or real growth."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "instance count over 80% of the maximum"
    condition_threshold {
      filter          = "${local.run_filter} AND metric.type = \"run.googleapis.com/container/instance_count\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.max_instances * 0.8
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}
