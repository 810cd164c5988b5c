# Every binding names one resource (a secret, the bucket, a service, a
# service account). The only project-level grants are those with no narrower
# scope: writing logs, and listing secrets (to find the client secrets by
# label; listing reveals names and labels, never a value).

resource "google_service_account" "run" {
  project      = var.project_id
  account_id   = "${var.name}-run"
  display_name = "Pixashot capture service"

  depends_on = [time_sleep.apis_settle]
}

resource "google_service_account" "rotate" {
  project      = var.project_id
  account_id   = "${var.name}-rotate"
  display_name = "Pixashot key rotation function"

  depends_on = [time_sleep.apis_settle]
}

resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = "${var.name}-events"
  display_name = "Pixashot rotation events (Eventarc invoker)"

  depends_on = [time_sleep.apis_settle]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name}-build"
  display_name = "Pixashot Cloud Build"

  depends_on = [time_sleep.apis_settle]
}

# --- the capture service ---

resource "google_project_iam_custom_role" "secret_lister" {
  project     = var.project_id
  role_id     = "${replace(var.name, "-", "_")}_secret_lister${replace(var.name_suffix, "-", "_")}"
  title       = "Pixashot secret lister"
  description = "Lists secret metadata to find client secrets by label; no access to any value."
  permissions = ["secretmanager.secrets.list"]

  depends_on = [time_sleep.apis_settle]
}

resource "google_project_iam_member" "run_secret_lister" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_lister.id
  member  = google_service_account.run.member
}

resource "google_project_iam_member" "run_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.run.member
}

# Metrics and spans: write only, nothing to read back.
resource "google_project_iam_member" "run_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = google_service_account.run.member
}

resource "google_project_iam_member" "run_trace_agent" {
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = google_service_account.run.member
}

# Accessor (values) and viewer (version list) on each client secret and on
# the signing secret: one binding per secret and role.
locals {
  run_secrets = merge(
    { for c, sec in google_secret_manager_secret.client : "client:${c}" => sec.secret_id },
    { "signing" = google_secret_manager_secret.url_signing.secret_id },
    { for c, sec in google_secret_manager_secret.client_webhook : "webhook:${c}" => sec.secret_id },
  )
  run_secret_grants = {
    for pair in setproduct(keys(local.run_secrets), ["roles/secretmanager.secretAccessor", "roles/secretmanager.viewer"]) :
    "${pair[0]} ${pair[1]}" => { secret_id = local.run_secrets[pair[0]], role = pair[1] }
  }
}

resource "google_secret_manager_secret_iam_member" "run_reads" {
  for_each  = local.run_secret_grants
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = each.value.role
  member    = google_service_account.run.member
}

# Exactly what the store does: write, read (attributes and bytes), delete
# (DELETE /captures/{id} and overwriting a cache pointer). No list, no IAM.
resource "google_project_iam_custom_role" "capture_objects" {
  project     = var.project_id
  role_id     = "${replace(var.name, "-", "_")}_capture_objects${replace(var.name_suffix, "-", "_")}"
  title       = "Pixashot capture objects"
  description = "Create, read and delete objects; bound on the captures bucket only."
  permissions = ["storage.objects.create", "storage.objects.get", "storage.objects.delete"]

  depends_on = [time_sleep.apis_settle]
}

resource "google_storage_bucket_iam_member" "run_objects" {
  bucket = google_storage_bucket.captures.name
  role   = google_project_iam_custom_role.capture_objects.id
  member = google_service_account.run.member
}

# Signing download URLs through IAM signBlob as itself: no key file exists.
# Only signBlob: Token Creator would also let the account mint access and ID
# tokens for itself, which URL signing never needs.
resource "google_project_iam_custom_role" "url_signer" {
  project     = var.project_id
  role_id     = "${replace(var.name, "-", "_")}_url_signer${replace(var.name_suffix, "-", "_")}"
  title       = "Pixashot URL signer"
  description = "signBlob only; bound on the capture service's own account."
  permissions = ["iam.serviceAccounts.signBlob"]

  depends_on = [time_sleep.apis_settle]
}

resource "google_service_account_iam_member" "run_signs_as_itself" {
  service_account_id = google_service_account.run.name
  role               = google_project_iam_custom_role.url_signer.id
  member             = google_service_account.run.member
}

# --- the rotation function ---

# Exactly what RotateKey does: list versions, add one, disable (and, to
# undo a mistake, enable) one. Never destroy, which Version Manager holds.
resource "google_project_iam_custom_role" "key_rotator" {
  project     = var.project_id
  role_id     = "${replace(var.name, "-", "_")}_key_rotator${replace(var.name_suffix, "-", "_")}"
  title       = "Pixashot key rotator"
  description = "Add, list, enable and disable secret versions; bound on the client secrets only."
  permissions = ["secretmanager.versions.add", "secretmanager.versions.list", "secretmanager.versions.enable", "secretmanager.versions.disable"]

  depends_on = [time_sleep.apis_settle]
}

resource "google_secret_manager_secret_iam_member" "rotate_versions" {
  for_each  = google_secret_manager_secret.client
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = google_project_iam_custom_role.key_rotator.id
  member    = google_service_account.rotate.member
}

resource "google_project_iam_member" "rotate_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.rotate.member
}

resource "google_cloud_run_v2_service_iam_member" "events_invoke_rotate" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.rotate.name
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

# Pub/Sub mints the OIDC token Eventarc pushes with.
resource "google_service_account_iam_member" "pubsub_tokens_for_events" {
  service_account_id = google_service_account.events.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_project_service_identity.agents["pubsub.googleapis.com"].member
}

# The trigger's first message must find both grants in force.
resource "time_sleep" "event_grants" {
  create_duration = "60s"
  depends_on      = [google_service_account_iam_member.pubsub_tokens_for_events, google_cloud_run_v2_service_iam_member.events_invoke_rotate]
}

# --- Cloud Build ---

resource "google_artifact_registry_repository_iam_member" "build_push" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_cloud_run_v2_service_iam_member" "build_deploys" {
  for_each = {
    capture = google_cloud_run_v2_service.capture.name
    rotate  = google_cloud_run_v2_service.rotate.name
  }
  project  = var.project_id
  location = var.region
  name     = each.value
  role     = "roles/run.developer"
  member   = google_service_account.build.member
}

resource "google_service_account_iam_member" "build_acts_as" {
  for_each = {
    run    = google_service_account.run.name
    rotate = google_service_account.rotate.name
  }
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.build.member
}

# `gcloud builds submit` uploads the source to <project>_cloudbuild, which
# it creates on first use; the build account reads it from there. The
# condition names that bucket, which may not exist yet.
resource "google_project_iam_member" "build_reads_source" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title      = "Cloud Build source bucket only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${var.project_id}_cloudbuild\")"
  }
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}
