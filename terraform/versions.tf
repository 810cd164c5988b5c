terraform {
  required_version = ">= 1.7.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.40"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.40"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

locals {
  # Every client's token secret, keyed by client id.
  # The name `pixashot keys` uses, whatever var.name is.
  client_secret_ids = { for c in var.clients : c => "pixashot-client-${c}" }
  labels            = { app = var.name, managed-by = "terraform" }
  # A key version is refused past AUTH_TOKEN_MAX_AGE: a rotation period, the
  # grace the old version keeps after a rotation, and a day for the
  # rotation event to be delivered and handled.
  rotation_grace_hours = tonumber(trimsuffix(var.rotation_grace, "h"))
  token_max_age        = "${var.key_rotation_days * 24 + local.rotation_grace_hours + 24}h"
}
