# Only the secrets' shells: token values are added with `pixashot keys
# create|rotate` and by the rotation function, so no secret value is ever in
# Terraform state.

# One start time per client, made when the client is added: a client added
# long after the first apply still gets a first rotation in the future
# (Secret Manager refuses a next_rotation_time less than 5 minutes ahead).
resource "time_static" "rotation_start" {
  for_each = local.client_secret_ids
}

resource "google_secret_manager_secret" "client" {
  for_each  = local.client_secret_ids
  project   = var.project_id
  secret_id = each.value
  labels    = merge(local.labels, { "pixashot-client" = each.key })

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  # Secret Manager publishes SECRET_ROTATE to the topic on this schedule;
  # RotateKey adds a new version and disables the old one after the grace.
  rotation {
    rotation_period    = "${var.key_rotation_days * 86400}s"
    next_rotation_time = timeadd(time_static.rotation_start[each.key].rfc3339, "${var.key_rotation_days * 24}h")
  }

  topics {
    name = google_pubsub_topic.rotation.id
  }

  lifecycle {
    # Secret Manager moves the next rotation forward by itself.
    ignore_changes = [rotation[0].next_rotation_time]
    # A key must outlive its rotation by the grace, or the old key expires
    # before the new one is handed out.
    precondition {
      condition     = local.rotation_grace_hours < var.key_rotation_days * 24
      error_message = "rotation_grace must be shorter than key_rotation_days."
    }
  }

  # Created, the secret publishes TOPIC_CONFIGURED at once: the publisher
  # grant must have reached Pub/Sub.
  depends_on = [time_sleep.apis_settle, time_sleep.publisher_grant]
}

# Each client's webhook signing keys, beside its tokens: `pixashot keys
# webhook <client>` adds one (whsec_…); the two newest enabled versions sign.
resource "google_secret_manager_secret" "client_webhook" {
  for_each  = toset(var.clients)
  project   = var.project_id
  secret_id = "pixashot-webhook-${each.key}"
  labels    = merge(local.labels, { "pixashot-webhook" = each.key })

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [time_sleep.apis_settle]
}

# Signed-URL keys: every enabled version verifies, the newest signs.
resource "google_secret_manager_secret" "url_signing" {
  project   = var.project_id
  secret_id = "${var.name}-url-signing"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [time_sleep.apis_settle]
}

resource "google_pubsub_topic" "rotation" {
  project = var.project_id
  name    = "${var.name}-secret-rotation"
  labels  = local.labels

  message_retention_duration = "86400s"

  depends_on = [time_sleep.apis_settle]
}

resource "google_project_service_identity" "secretmanager" {
  provider = google-beta
  project  = var.project_id
  service  = "secretmanager.googleapis.com"

  depends_on = [time_sleep.apis_settle]
}

resource "google_pubsub_topic_iam_member" "secretmanager_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.rotation.name
  role    = "roles/pubsub.publisher"
  member  = google_project_service_identity.secretmanager.member
}

# IAM changes take up to a minute or two to be seen everywhere.
resource "time_sleep" "publisher_grant" {
  create_duration = "90s"
  depends_on      = [google_pubsub_topic_iam_member.secretmanager_publishes]
}

# The service agents Eventarc's trigger relies on, made (not assumed) before it.
resource "google_project_service_identity" "agents" {
  for_each   = toset(["pubsub.googleapis.com", "eventarc.googleapis.com"])
  provider   = google-beta
  project    = var.project_id
  service    = each.value
  depends_on = [time_sleep.apis_settle]
}

resource "google_eventarc_trigger" "rotation" {
  project         = var.project_id
  name            = "${var.name}-secret-rotation"
  location        = var.region
  service_account = google_service_account.events.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.pubsub.topic.v1.messagePublished"
  }

  transport {
    pubsub {
      topic = google_pubsub_topic.rotation.id
    }
  }

  destination {
    cloud_run_service {
      service = google_cloud_run_v2_service.rotate.name
      region  = var.region
    }
  }

  depends_on = [time_sleep.apis_settle, google_cloud_run_v2_service_iam_member.events_invoke_rotate,
  google_project_service_identity.agents, time_sleep.event_grants]
}

# The operator's upstream proxy URL (upstream_proxy_secret): created outside
# Terraform so its password never enters the state; the run account may read
# that secret alone.
resource "google_secret_manager_secret_iam_member" "run_reads_upstream_proxy" {
  count     = var.upstream_proxy_secret != "" ? 1 : 0
  project   = var.project_id
  secret_id = var.upstream_proxy_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run.member
}
