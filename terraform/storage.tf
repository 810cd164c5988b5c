resource "google_storage_bucket" "captures" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}-captures"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Retention: captures are deleted at this age; the service refuses URLs
  # for older objects (STORAGE_RETENTION) in case the rule runs late.
  lifecycle_rule {
    condition {
      age = var.retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Off by default: a client's DELETE /captures/{id} is a data-deletion
  # request, and soft delete would keep the capture restorable for days.
  soft_delete_policy {
    retention_duration_seconds = var.capture_soft_delete_days * 86400
  }

  versioning {
    enabled = false
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == "" ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [time_sleep.apis_settle, google_kms_crypto_key_iam_member.storage_uses_cmek]
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

# With CMEK, Cloud Storage's service agent must be able to use the key.
resource "google_kms_crypto_key_iam_member" "storage_uses_cmek" {
  count         = var.kms_key_name == "" ? 0 : 1
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Data access audit logs: every read, write and delete of a capture, and
# every access to a token secret, is recorded by Google, outside the service.
resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

resource "google_project_iam_audit_config" "secretmanager" {
  project = var.project_id
  service = "secretmanager.googleapis.com"
  audit_log_config {
    log_type = "DATA_READ"
  }
}
