locals {
  run_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.name}\""
  # Log events the service writes, each with a metric and an alert:
  # threshold per 5 minutes. They count whatever METRICS_EXPORTER says;
  # Chrome's restarts are alerted on from pixashot.browser.restarts below.
  log_events = {
    auth_failure = {
      threshold   = 50
      description = "Authentication failures (event=auth_failure): a leaked or guessed key, or a broken client. See the runbook: leaked key."
    }
    egress_blocked = {
      threshold   = 20
      description = "The egress guard refused a destination (event=egress_blocked): someone is probing internal addresses through captures. See the runbook: abuse."
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

  depends_on = [time_sleep.apis_settle]
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

  depends_on = [time_sleep.apis_settle]
}

# An alert on a log-based metric made in the same apply fails with "Cannot
# find metric(s)" until Monitoring has seen the metric, for up to ten
# minutes (hashicorp/terraform-provider-google#11102). The alerts wait for
# this, which waits on creation (and on a new metric) only.
resource "time_sleep" "log_metrics_known" {
  create_duration = "600s"
  triggers = {
    metrics = join(",", sort([for m in google_logging_metric.events : m.id]))
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

  depends_on = [time_sleep.apis_settle, time_sleep.log_metrics_known]
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

  depends_on = [time_sleep.apis_settle]
}

# Alerts on Cloud Run's own metrics, one policy each.
locals {
  metric_alerts = {
    latency = {
      name      = "p95 latency"
      doc       = "The 95th percentile of request latency is above half the capture timeout."
      metric    = "run.googleapis.com/request_latencies"
      threshold = var.capture_timeout_seconds * 500
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_PERCENTILE_95"
    }
    memory = {
      name      = "memory"
      doc       = "An instance uses more than 85% of its memory: Chrome is close to being killed. Raise memory or lower concurrency."
      metric    = "run.googleapis.com/container/memory/utilizations"
      threshold = 0.85
      aligner   = "ALIGN_PERCENTILE_99"
      reducer   = null
    }
    instances = {
      name      = "instances near the maximum"
      doc       = "Instances are above 80% of max_instances: requests will soon queue and answer 503. Abuse (see the runbook) or real growth."
      metric    = "run.googleapis.com/container/instance_count"
      threshold = var.max_instances * 0.8
      aligner   = "ALIGN_MAX"
      reducer   = "REDUCE_SUM"
    }
  }
}

# Cloud Run's metrics and the service's own, in one form.
locals {
  alerts = merge(
    { for k, a in local.metric_alerts : k => {
      name      = a.name
      doc       = a.doc
      filter    = "${local.run_filter} AND metric.type = \"${a.metric}\""
      threshold = a.threshold
      period    = "60s"
      duration  = "300s"
      aligner   = a.aligner
      reducer   = a.reducer
      group_by  = []
    } },
    local.service_alerts,
  )
}

resource "google_monitoring_alert_policy" "metrics" {
  for_each              = local.alerts
  project               = var.project_id
  display_name          = "${var.name}: ${each.value.name}"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = each.value.doc
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "${each.value.name} over ${each.value.threshold}"
    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = each.value.duration
      aggregations {
        alignment_period     = each.value.period
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.reducer
        group_by_fields      = each.value.group_by
      }
    }
  }

  depends_on = [time_sleep.apis_settle]
}

# Alerts on the service's own metrics (METRICS_EXPORTER=gcp), where they say
# more than a log line: by client, by reason, and as a distribution. Each
# documentation text is the runbook's entry (docs/operations.md).
locals {
  workload = "workload.googleapis.com/pixashot"
  service_alerts = {
    browser_restarts = {
      name      = "Chrome restarts"
      filter    = "metric.type = \"${local.workload}.browser.restarts\" AND metric.labels.reason != \"recycle\""
      threshold = var.alert_browser_restarts_per_hour
      period    = "3600s"
      duration  = "0s"
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_SUM"
      group_by  = []
      doc       = "Chrome died or stopped answering more than the threshold in an hour, across instances (pixashot.browser.restarts, reason died or unresponsive; recycles are planned and not counted). A crash loop or a hostile page. Runbook: Chrome crash loop: find event=browser_died and the captures just before it in Logs Explorer; block the client if one client's pages cause it; check pixashot.browser.memory against the instance's memory."
    }
    egress_refused_client = {
      name      = "egress refusals from one client"
      filter    = "metric.type = \"${local.workload}.egress.refused\" AND metric.labels.client != \"\""
      threshold = var.alert_egress_refusals_per_client
      period    = "300s"
      duration  = "0s"
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_SUM"
      group_by  = ["metric.label.client"]
      doc       = "One client's captures were refused more than the threshold of connections in 5 minutes (pixashot.egress.refused, by client and class: loopback, private, link_local, metadata, port, scheme, dns, budget). Someone is probing internal addresses through captures. Runbook: abuse: read the class, find the client's event=egress_blocked lines, revoke its key (keyadmin revoke) if the targets are not its own."
    }
    auth_failures = {
      name      = "authentication failures"
      filter    = "metric.type = \"${local.workload}.auth.failures\""
      threshold = var.alert_auth_failures
      period    = "300s"
      duration  = "0s"
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_SUM"
      group_by  = ["metric.label.reason"]
      doc       = "More than the threshold of refused credentials in 5 minutes (pixashot.auth.failures, by reason: missing, unknown_token, expired, signatures; the client when the key was known and expired). Runbook: leaked key: unknown_token from many addresses is guessing (Cloud Armor's rate rule); expired names the client whose key to rotate."
    }
    job_age = {
      name      = "async jobs wait"
      filter    = "metric.type = \"${local.workload}.jobs.age\""
      threshold = var.alert_job_age_seconds
      period    = "300s"
      duration  = "0s"
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_PERCENTILE_95"
      group_by  = []
      doc       = "The 95th percentile of the time from an async capture's submission to its start is over the threshold (pixashot.jobs.age). The queue is deeper than the instances drain. Runbook: queue backlog: check pixashot.admission.running against MAX_CONCURRENCY and the instance count against max_instances; raise max_instances or the queue's dispatch rate."
    }
  }
}

# The golden signals on one page: rate, errors, latency by phase,
# saturation (slots, queue, memory). docs/dashboard.png is drawn from this
# JSON with sample data (make dashboard-png).
resource "google_monitoring_dashboard" "service" {
  project        = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", { name = var.name })

  depends_on = [time_sleep.apis_settle]
}
