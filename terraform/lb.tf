# Global external Application Load Balancer: the service's only way in.

resource "google_compute_global_address" "lb" {
  project = var.project_id
  name    = "${var.name}-lb"

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_region_network_endpoint_group" "capture" {
  project               = var.project_id
  name                  = "${var.name}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.capture.name
  }

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_backend_service" "capture" {
  project               = var.project_id
  name                  = "${var.name}-backend"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge.id

  backend {
    group = google_compute_region_network_endpoint_group.capture.id
  }

  # Access logs: every request, with Cloud Armor's verdict.
  log_config {
    enable      = true
    sample_rate = 1.0
  }

  custom_response_headers = [
    "Strict-Transport-Security: max-age=63072000; includeSubDomains; preload",
  ]

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_url_map" "https" {
  project         = var.project_id
  name            = "${var.name}-https"
  default_service = google_compute_backend_service.capture.id
}

# Named from the domains: with create_before_destroy a change of domains
# makes a certificate of a new name beside the old one (a fixed name is 409).
resource "google_compute_managed_ssl_certificate" "capture" {
  project = var.project_id
  name    = "${var.name}-cert-${substr(sha256(join(",", sort(var.domains))), 0, 8)}"

  managed {
    domains = var.domains
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [time_sleep.apis_settle]
}

# TLS 1.2 or newer, with only the modern, forward-secret ciphers.
resource "google_compute_ssl_policy" "tls" {
  project         = var.project_id
  name            = "${var.name}-tls"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_target_https_proxy" "capture" {
  project          = var.project_id
  name             = "${var.name}-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.capture.id]
  ssl_policy       = google_compute_ssl_policy.tls.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "443"
  ip_address            = google_compute_global_address.lb.id
  target                = google_compute_target_https_proxy.capture.id
}

# Port 80 only redirects to HTTPS; nothing is served in the clear.
resource "google_compute_url_map" "http_redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "80"
  ip_address            = google_compute_global_address.lb.id
  target                = google_compute_target_http_proxy.redirect.id
}
