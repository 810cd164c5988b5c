resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Pixashot images, tagged with the commit they were built from."
  labels        = local.labels

  docker_config {
    # A tag names one build forever: a deploy by tag is a deploy of that commit.
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  depends_on = [time_sleep.apis_settle]
}
