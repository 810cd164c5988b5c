# The pixashot-audit log (one entry per key use) is kept in its own bucket,
# long after the default 30 days.

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = "global"
  bucket_id      = "${var.name}-audit"
  retention_days = var.audit_retention_days
  description    = "Pixashot audit trail: every use of a client key."
}

resource "google_logging_project_sink" "audit" {
  project                = var.project_id
  name                   = "${var.name}-audit"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter                 = "logName = \"projects/${var.project_id}/logs/pixashot-audit\""
  unique_writer_identity = true
}

# The sink's identity may write to that one log bucket only.
resource "google_project_iam_member" "audit_sink_writer" {
  project = var.project_id
  role    = "roles/logging.bucketWriter"
  member  = google_logging_project_sink.audit.writer_identity

  condition {
    title      = "audit bucket only"
    expression = "resource.name.endsWith(\"locations/global/buckets/${var.name}-audit\")"
  }
}
