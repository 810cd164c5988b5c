locals {
  env_all = {
    AUTH_SECRET_PROJECT = var.project_id
    AUDIT_PROJECT       = var.project_id
    URL_SIGNING_SECRET  = google_secret_manager_secret.url_signing.id
    BUCKET              = google_storage_bucket.captures.name
    SIGNED_URL_TTL      = "15m"
    STORAGE_RETENTION   = "${var.retention_days * 24}h"
    RATE_LIMIT          = var.rate_limit
    MAX_CONCURRENCY     = tostring(var.concurrency)
    CAPTURE_TIMEOUT     = "${var.capture_timeout_seconds}s"
    AUTH_TOKEN_MAX_AGE  = local.token_max_age
    CHROME_NO_SANDBOX   = tostring(var.chrome_no_sandbox)
    # The instance's memory less what the service keeps back for shared
    # pages and /tmp: the watchdog ends a renderer before the OOM killer
    # ends every tenant's captures.
    INSTANCE_MEMORY_MB = tostring((endswith(var.memory, "Gi") ? tonumber(trimsuffix(var.memory, "Gi")) * 1024 : tonumber(trimsuffix(var.memory, "Mi"))) - 384)
    REDIS_URL          = var.redis_enabled ? "rediss://${google_redis_instance.ratelimit[0].host}:${google_redis_instance.ratelimit[0].port}/0" : null
    REDIS_CA_CERT      = var.redis_enabled ? google_redis_instance.ratelimit[0].server_ca_certs[0].cert : null
    # Behind the external load balancer: it appends the client and itself.
    TRUSTED_PROXY_HOPS = "1"
    # Asynchronous captures: tasks come back through the load balancer.
    TASKS_QUEUE         = google_cloud_tasks_queue.captures.id
    TASKS_SERVICE_URL   = "https://${var.domains[0]}"
    TASKS_INVOKER_EMAIL = google_service_account.tasks.email
    TASKS_MAX_ATTEMPTS  = tostring(local.tasks_max_attempts)
    # Monitors: a Cloud Scheduler job each, in the queue's project and
    # region, named with the prefix the run account's grant is meant for.
    MONITORS_MAX         = tostring(var.monitors_max)
    SCHEDULER_JOB_PREFIX = local.monitor_job_prefix
    # Metrics to Cloud Monitoring (workload.googleapis.com/pixashot.*) and
    # traces to Cloud Trace, continuing the load balancer's.
    METRICS_EXPORTER   = "gcp"
    TRACE_SAMPLE_RATIO = tostring(var.trace_sample_ratio)
    # A client's own proxy behind the operator's upstream (upstream_proxy_secret).
    PROXY_CHAINING = var.upstream_proxy_secret != "" ? tostring(var.proxy_chaining) : null
  }
  env = { for k, v in local.env_all : k => v if v != null }
}

# The capture service. Reachable only through the load balancer: ingress
# allows nothing else and the run.app URL is off. The invoker IAM check is
# off instead of granting run.invoker to the public: clients authenticate with
# their bearer tokens in the service, and no public member exists anywhere.
resource "google_cloud_run_v2_service" "capture" {
  # default_uri_disabled is a beta field.
  provider             = google-beta
  project              = var.project_id
  name                 = var.name
  location             = var.region
  launch_stage         = "BETA"
  ingress              = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  default_uri_disabled = true
  invoker_iam_disabled = true
  deletion_protection  = true
  labels               = local.labels

  template {
    service_account                  = google_service_account.run.email
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    max_instance_request_concurrency = var.concurrency
    timeout                          = "${var.capture_timeout_seconds + 30}s"

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    dynamic "vpc_access" {
      for_each = local.vpc_enabled ? [1] : []
      content {
        # A static egress address needs every connection through the VPC
        # (and its NAT); Redis alone needs only the private ranges.
        egress = var.static_egress_ip ? "ALL_TRAFFIC" : "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = google_compute_network.egress[0].id
          subnetwork = google_compute_subnetwork.egress[0].id
        }
      }
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # Chrome keeps working between requests (disposal after the answer):
        # CPU stays allocated.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.redis_enabled ? [1] : []
        content {
          name = "REDIS_PASSWORD"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.redis_auth[0].secret_id
              version = "latest"
            }
          }
        }
      }

      # The operator's upstream proxy: its URL may hold a password, so it
      # comes from Secret Manager, never from a plain variable.
      dynamic "env" {
        for_each = var.upstream_proxy_secret != "" ? [1] : []
        content {
          name = "UPSTREAM_PROXY"
          value_source {
            secret_key_ref {
              secret  = var.upstream_proxy_secret
              version = "latest"
            }
          }
        }
      }

      # Ready only once Chrome answers and the client tokens are loaded.
      startup_probe {
        http_get {
          path = "/health/ready"
          port = 8080
        }
        initial_delay_seconds = 0
        period_seconds        = 4
        timeout_seconds       = 2
        # 4 minutes, Cloud Run's most: a first deploy's key load retries
        # until the grants are seen.
        failure_threshold = 60
      }

      liveness_probe {
        http_get {
          path = "/health/live"
          port = 8080
        }
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3
      }
    }
  }

  lifecycle {
    # Cloud Build deploys new images; Terraform owns everything else.
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [
    time_sleep.apis_settle,
    time_sleep.run_grants,
    google_secret_manager_secret_version.redis_auth,
  ]
}

# Ready needs a loaded key, read with these grants: the first revision's
# startup probe must not run before they are in force. If it failed anyway,
# `terraform untaint google_cloud_run_v2_service.capture` and apply again
# (deletion_protection keeps the provider from replacing it).
resource "time_sleep" "run_grants" {
  create_duration = "90s"
  depends_on = [
    google_secret_manager_secret_iam_member.run_reads,
    google_project_iam_member.run_secret_lister,
    google_secret_manager_secret_iam_member.run_reads_redis_auth,
  ]
}

# The rotation function: the same image with FUNCTION_TARGET=RotateKey, no
# browser, invoked only by Eventarc with its own identity.
resource "google_cloud_run_v2_service" "rotate" {
  project             = var.project_id
  name                = "${var.name}-rotate"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = true
  labels              = local.labels

  template {
    service_account                  = google_service_account.rotate.email
    max_instance_request_concurrency = 1
    timeout                          = "60s"

    scaling {
      min_instance_count = 0
      max_instance_count = 2
    }

    containers {
      image = var.image

      # gen2's minimum memory, and CPU only while a request is handled: an
      # event a few times a quarter needs no always-allocated CPU.
      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = true
      }

      env {
        name  = "FUNCTION_TARGET"
        value = "RotateKey"
      }
      env {
        name  = "ROTATION_GRACE"
        value = var.rotation_grace
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [time_sleep.apis_settle]
}
