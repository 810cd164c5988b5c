# Asynchronous captures (POST /captures) run on Cloud Tasks: each job is an
# HTTP task to the service's internal route through the load balancer,
# carrying an OIDC token of the tasks account, which the route checks
# (issuer, audience, account, expiry, signature) and which nothing else can
# mint: only the capture service may attach it to a task (actAs), and only
# Cloud Tasks' own agent signs its tokens.

locals {
  tasks_max_attempts = 20
}

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "${var.name}-tasks"
  display_name = "Pixashot Cloud Tasks invoker"

  depends_on = [time_sleep.apis_settle]
}

resource "google_cloud_tasks_queue" "captures" {
  project  = var.project_id
  name     = "${var.name}-captures${var.name_suffix}"
  location = var.region

  # At most what the instances can capture at once; Cloud Tasks holds the rest.
  rate_limits {
    max_dispatches_per_second = var.tasks_max_dispatches_per_second
    max_concurrent_dispatches = var.concurrency * var.max_instances
  }

  # The service answers 503 when it has no slot or the browser restarts:
  # retried with backoff (about an hour in all); the service ends the job
  # failed at the last attempt, which it knows from TASKS_MAX_ATTEMPTS. The
  # attempts alone bound it (a duration would end tasks the service cannot
  # tell are at their last).
  retry_config {
    max_attempts       = local.tasks_max_attempts
    max_retry_duration = "0s"
    min_backoff        = "2s"
    max_backoff        = "300s"
    max_doublings      = 6
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [time_sleep.apis_settle]
}

resource "google_cloud_tasks_queue_iam_member" "run_enqueues" {
  project  = var.project_id
  location = google_cloud_tasks_queue.captures.location
  name     = google_cloud_tasks_queue.captures.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.run.member
}

# The capture service names the tasks account on the tasks it creates.
resource "google_service_account_iam_member" "run_acts_as_tasks" {
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.run.member
}

# The queue's backlog: tasks waiting, and how late their attempts run (the
# age of the work at the head of the queue).
resource "google_monitoring_alert_policy" "tasks_backlog" {
  project               = var.project_id
  display_name          = "${var.name}: capture queue backlog"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  documentation {
    content   = "Asynchronous captures wait: attempts run more than ${var.tasks_max_delay_seconds} s late, or more than ${var.tasks_max_depth} tasks are queued. Instances may be at max_instances, or the service answers 503 to every task (see the runbook)."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "attempt delay over ${var.tasks_max_delay_seconds} s"
    condition_threshold {
      filter          = "resource.type = \"cloud_tasks_queue\" AND resource.labels.queue_id = \"${google_cloud_tasks_queue.captures.name}\" AND metric.type = \"cloudtasks.googleapis.com/queue/task_attempt_delays\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.tasks_max_delay_seconds * 1000
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  conditions {
    display_name = "depth over ${var.tasks_max_depth}"
    condition_threshold {
      filter          = "resource.type = \"cloud_tasks_queue\" AND resource.labels.queue_id = \"${google_cloud_tasks_queue.captures.name}\" AND metric.type = \"cloudtasks.googleapis.com/queue/depth\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.tasks_max_depth
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  depends_on = [time_sleep.apis_settle]
}
