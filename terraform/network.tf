# The VPC the service egresses through, when it needs one: Memorystore for
# a rate limit shared by every instance, and/or Cloud NAT with one static
# address for every outbound connection (static_egress_ip).
#
# Optional: Memorystore for a rate limit shared by every instance. The
# service reaches it over Direct VPC egress for private ranges only; the
# firewall lets the instances reach Redis and nothing else in the VPC, so a
# page in Chrome can reach no private address even past the egress guard.

# Direct VPC egress takes an address per instance, and up to twice as many
# while a new revision replaces the old: the subnet holds 2 × max_instances
# plus the four addresses a subnet reserves, and never less than the /26
# Cloud Run asks for. Firewall rule logging is left out: Direct VPC egress
# does not log through it.
locals {
  # The VPC exists for Redis, for one static egress address, or both.
  vpc_enabled   = var.redis_enabled || var.static_egress_ip
  egress_prefix = min(26, 32 - ceil(log(var.max_instances * 2 + 4, 2)))
  egress_cidr   = cidrsubnet("10.8.0.0/13", local.egress_prefix - 13, 0)
  # Memorystore's own /29, reserved outside the egress subnet's range (left
  # to pick, it may take addresses the subnet needs later).
  redis_cidr = "10.16.0.0/29"
}

resource "google_compute_network" "egress" {
  count                   = local.vpc_enabled ? 1 : 0
  project                 = var.project_id
  name                    = "${var.name}-egress"
  auto_create_subnetworks = false

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_subnetwork" "egress" {
  count                    = local.vpc_enabled ? 1 : 0
  project                  = var.project_id
  name                     = "${var.name}-egress"
  region                   = var.region
  network                  = google_compute_network.egress[0].id
  ip_cidr_range            = local.egress_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 1.0
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_redis_instance" "ratelimit" {
  count              = var.redis_enabled ? 1 : 0
  project            = var.project_id
  name               = "${var.name}-ratelimit"
  region             = var.region
  tier               = "BASIC"
  memory_size_gb     = 1
  authorized_network = google_compute_network.egress[0].id
  connect_mode       = "DIRECT_PEERING"
  reserved_ip_range  = local.redis_cidr
  redis_version      = "REDIS_7_2"
  labels             = local.labels
  # AUTH and TLS: a peer on the network cannot read or write the buckets.
  # The service reads the AUTH string from Secret Manager (redis_auth) and
  # trusts the instance's own CA (REDIS_CA_CERT); TLS listens on 6378.
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  depends_on = [time_sleep.apis_settle]
}

# The AUTH string, for the service to read at start. The value is in the
# state through the instance already (auth_string); this is the one secret
# version Terraform writes, and only the run account may read it.
resource "google_secret_manager_secret" "redis_auth" {
  count     = var.redis_enabled ? 1 : 0
  project   = var.project_id
  secret_id = "${var.name}-redis-auth"
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

resource "google_secret_manager_secret_version" "redis_auth" {
  count       = var.redis_enabled ? 1 : 0
  secret      = google_secret_manager_secret.redis_auth[0].id
  secret_data = google_redis_instance.ratelimit[0].auth_string
}

resource "google_secret_manager_secret_iam_member" "run_reads_redis_auth" {
  count     = var.redis_enabled ? 1 : 0
  project   = var.project_id
  secret_id = google_secret_manager_secret.redis_auth[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run.member
}

resource "google_compute_firewall" "egress_redis" {
  count              = var.redis_enabled ? 1 : 0
  project            = var.project_id
  name               = "${var.name}-egress-redis"
  network            = google_compute_network.egress[0].id
  direction          = "EGRESS"
  priority           = 100
  destination_ranges = ["${google_redis_instance.ratelimit[0].host}/32"]

  allow {
    protocol = "tcp"
    ports    = [tostring(google_redis_instance.ratelimit[0].port)]
  }
}

resource "google_compute_firewall" "egress_deny_private" {
  count              = local.vpc_enabled ? 1 : 0
  project            = var.project_id
  name               = "${var.name}-egress-deny-private"
  network            = google_compute_network.egress[0].id
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]

  deny {
    protocol = "all"
  }
}

# One static egress address (static_egress_ip): every connection the
# service opens (pages, webhooks, Google APIs outside Private Google Access)
# leaves through Cloud NAT from this reserved address, which target sites
# and webhook receivers can allow-list. The egress guard still checks every
# destination first; NAT only changes the address it comes from.
resource "google_compute_address" "egress" {
  count        = var.static_egress_ip ? 1 : 0
  project      = var.project_id
  name         = "${var.name}-egress"
  region       = var.region
  address_type = "EXTERNAL"
  network_tier = "PREMIUM"
  labels       = local.labels

  depends_on = [time_sleep.apis_settle]
}

resource "google_compute_router" "egress" {
  count   = var.static_egress_ip ? 1 : 0
  project = var.project_id
  name    = "${var.name}-egress"
  region  = var.region
  network = google_compute_network.egress[0].id
}

resource "google_compute_router_nat" "egress" {
  count                              = var.static_egress_ip ? 1 : 0
  project                            = var.project_id
  name                               = "${var.name}-egress"
  router                             = google_compute_router.egress[0].name
  region                             = var.region
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = [google_compute_address.egress[0].self_link]
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.egress[0].id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  # A capture may open up to EGRESS_MAX_CONNECTIONS at once: ports grow
  # with demand instead of a fixed 64 per instance.
  enable_dynamic_port_allocation      = true
  enable_endpoint_independent_mapping = false
  min_ports_per_vm                    = 256
  max_ports_per_vm                    = 8192

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
