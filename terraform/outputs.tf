output "lb_ip" {
  description = "Address of the load balancer: point every domain's A record here."
  value       = google_compute_global_address.lb.address
}

output "url" {
  description = "The service's URL (live once the managed certificate is provisioned)."
  value       = "https://${var.domains[0]}"
}

output "bucket" {
  description = "Bucket of stored captures."
  value       = google_storage_bucket.captures.name
}

output "run_service_account" {
  description = "Identity of the capture service."
  value       = google_service_account.run.email
}

output "rotate_service_account" {
  description = "Identity of the rotation function."
  value       = google_service_account.rotate.email
}

output "build_service_account" {
  description = "Identity for Cloud Build (gcloud builds submit --service-account)."
  value       = google_service_account.build.id
}

output "image_repository" {
  description = "Artifact Registry path for images."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "url_signing_secret" {
  description = "URL_SIGNING_SECRET: add a version with `pixashot keys` or gcloud to enable signed URLs."
  value       = google_secret_manager_secret.url_signing.id
}

output "egress_ip" {
  description = "The static address every outbound connection comes from (static_egress_ip), for allow-lists; null without it."
  value       = var.static_egress_ip ? google_compute_address.egress[0].address : null
}
