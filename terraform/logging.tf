# The pixashot-audit log (one entry per key use) is kept in its own bucket,
# long after the default 30 days.

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = var.region # not global: gcp.resourceLocations refuses it
  bucket_id      = "${var.name}-audit${var.name_suffix}"
  retention_days = var.audit_retention_days
  description    = "Pixashot audit trail: every use of a client key."
  # Locked, the bucket and its retention can no longer be changed or
  # deleted by anyone: irreversible, so an option.
  locked = var.audit_bucket_locked

  depends_on = [time_sleep.apis_settle]
}

# The audit entries go to their own bucket only, not also to _Default.
resource "google_logging_project_exclusion" "audit_not_in_default" {
  project     = var.project_id
  name        = "${var.name}-audit-not-in-default"
  description = "pixashot-audit is kept in its own bucket"
  filter      = "logName = \"projects/${var.project_id}/logs/pixashot-audit\""

  depends_on = [time_sleep.apis_settle]
}

resource "google_logging_project_sink" "audit" {
  project                = var.project_id
  name                   = "${var.name}-audit"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter                 = "logName = \"projects/${var.project_id}/logs/pixashot-audit\""
  unique_writer_identity = true

  depends_on = [time_sleep.apis_settle]
}

# A sink to a log bucket of its own project writes with no grant: its
# writer_identity can be empty there, so no binding is made.
