variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id."
  }
}

variable "region" {
  description = "Region of the Cloud Run services, the bucket and the registry."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "pixashot"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name must be 3-21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "name_suffix" {
  description = "Appended to the names Google keeps after a destroy (the Cloud Tasks queue 7 days, custom roles up to 37 days, the audit log bucket 7 days or, locked, for ever): set it, e.g. \"-2\", to re-create a stack in the same project."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(-[a-z0-9]{1,6})?$", var.name_suffix))
    error_message = "name_suffix is empty or a dash and 1-6 lower-case letters or digits."
  }
}

variable "domains" {
  description = "Domain names served by the HTTPS load balancer (Google-managed certificate). Point their A records at the lb_ip output."
  type        = list(string)

  validation {
    condition     = length(var.domains) > 0 && alltrue([for d in var.domains : can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", d))])
    error_message = "domains must list at least one fully qualified domain name."
  }
}

variable "image" {
  description = "Container image of the service, e.g. REGION-docker.pkg.dev/PROJECT/pixashot/pixashot:COMMIT. Cloud Build deploys later images; Terraform ignores image changes after creation."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/.+[:@].+$", var.image))
    error_message = "image must be a full reference with a tag or digest."
  }
}

variable "clients" {
  description = "Client ids; each gets a token secret labelled pixashot-client=<id> (values are added with `pixashot keys create`, never by Terraform)."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.clients : can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", c))])
    error_message = "client ids must be 1-63 lower-case letters, digits, '_' or '-' (a label value and a storage prefix)."
  }

  validation {
    condition     = length(setintersection(var.clients, ["dev", "signed"])) == 0
    error_message = "dev and signed are the service's built-in principals (AUTH_TOKEN, key-signed URLs); the service refuses client secrets with those ids."
  }
}

variable "alert_email" {
  description = "Email address that receives every alert."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "retention_days" {
  description = "Days a stored capture lives: the bucket's lifecycle deletes it, and the service gives no URL for it after this age."
  type        = number
  default     = 7

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 365
    error_message = "retention_days must be between 1 and 365."
  }
}

variable "audit_retention_days" {
  description = "Days the pixashot-audit log is kept in its own log bucket."
  type        = number
  default     = 400

  validation {
    condition     = var.audit_retention_days >= 30 && var.audit_retention_days <= 3650
    error_message = "audit_retention_days must be between 30 and 3650."
  }
}

variable "min_instances" {
  description = "Instances kept warm (a warm instance has its Chrome running)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 100
    error_message = "min_instances must be between 0 and 100."
  }
}

variable "max_instances" {
  description = "Upper bound on instances: the cost ceiling under abuse."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances must be between 1 and 1000."
  }
}

variable "cpu" {
  description = "CPUs per instance."
  type        = string
  default     = "2"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.cpu)
    error_message = "cpu must be 1, 2, 4, 6 or 8."
  }
}

variable "memory" {
  description = "Memory per instance (Chrome needs room: at least 1Gi)."
  type        = string
  default     = "2Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "memory must look like 2Gi or 1536Mi."
  }
}

variable "concurrency" {
  description = "Captures at once per instance: Cloud Run's request concurrency and the service's MAX_CONCURRENCY."
  type        = number
  default     = 4

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 16
    error_message = "concurrency must be between 1 and 16."
  }
}

variable "capture_timeout_seconds" {
  description = "Hard limit for one capture (CAPTURE_TIMEOUT); the request timeout adds 30 s for the upload and the answer."
  type        = number
  default     = 60

  validation {
    condition     = var.capture_timeout_seconds >= 5 && var.capture_timeout_seconds <= 600
    error_message = "capture_timeout_seconds must be between 5 and 600."
  }
}

variable "rate_limit" {
  description = "Per-client limit enforced by the service (RATE_LIMIT), e.g. \"5 per second\"."
  type        = string
  default     = "5 per second"

  validation {
    condition     = can(regex("^(0|[0-9]+ ?(per (second|minute|hour)|/[smh]))$", var.rate_limit))
    error_message = "rate_limit must look like \"5 per second\", \"300/m\" or 0."
  }
}

variable "edge_rate_limit_per_ip" {
  description = "Requests per minute one IP may send before Cloud Armor bans it for ban_duration_seconds."
  type        = number
  default     = 600

  validation {
    condition     = var.edge_rate_limit_per_ip >= 10
    error_message = "edge_rate_limit_per_ip must be at least 10."
  }
}

variable "edge_rate_limit_per_key" {
  description = "Requests per minute one Authorization header may send; beyond it Cloud Armor answers 429."
  type        = number
  default     = 1200

  validation {
    condition     = var.edge_rate_limit_per_key >= 10
    error_message = "edge_rate_limit_per_key must be at least 10."
  }
}

variable "ban_duration_seconds" {
  description = "How long Cloud Armor bans an IP over edge_rate_limit_per_ip."
  type        = number
  default     = 600

  validation {
    condition     = var.ban_duration_seconds >= 60 && var.ban_duration_seconds <= 86400
    error_message = "ban_duration_seconds must be between 60 and 86400."
  }
}

variable "allow_ip_ranges" {
  description = "If set, only these source ranges reach the service (everything else is denied at the edge)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.allow_ip_ranges : can(cidrhost(r, 0))])
    error_message = "allow_ip_ranges must be CIDR ranges."
  }

  # One negated expression of inIpRange calls; Cloud Armor allows at most 5
  # subexpressions in one rule (a negation cannot be split over rules).
  validation {
    condition     = length(var.allow_ip_ranges) <= 5
    error_message = "allow_ip_ranges takes at most 5 ranges (Cloud Armor's limit on one expression); use wider ranges."
  }
}

variable "deny_ip_ranges" {
  description = "Source ranges refused at the edge (abuse)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.deny_ip_ranges : can(cidrhost(r, 0))])
    error_message = "deny_ip_ranges must be CIDR ranges."
  }

  # 10 ranges a rule at priorities 100-149: a 51st rule would take 150, the
  # Cloud Tasks rule's.
  validation {
    condition     = length(var.deny_ip_ranges) <= 500
    error_message = "deny_ip_ranges holds at most 500 ranges (50 rules of 10 below the Cloud Tasks rule's priority 150)."
  }
}

variable "capture_soft_delete_days" {
  description = "Days a deleted capture stays restorable (Cloud Storage soft delete). 0, the default: DELETE /captures/{id} removes it for good."
  type        = number
  default     = 0

  validation {
    condition     = var.capture_soft_delete_days == 0 || (var.capture_soft_delete_days >= 7 && var.capture_soft_delete_days <= 90)
    error_message = "capture_soft_delete_days must be 0 (off) or 7 to 90 (Cloud Storage's range)."
  }
}

variable "audit_bucket_locked" {
  description = "Lock the audit log bucket: its retention can then never be shortened nor the bucket deleted. Irreversible."
  type        = bool
  default     = false
}

variable "key_rotation_days" {
  description = "Secret Manager publishes a rotation event for every client secret this often; RotateKey adds a new version."
  type        = number
  default     = 90

  validation {
    condition     = var.key_rotation_days >= 1 && var.key_rotation_days <= 365
    error_message = "key_rotation_days must be between 1 and 365."
  }
}

variable "rotation_grace" {
  description = "How long the previous token stays valid after a rotation (ROTATION_GRACE, Go duration)."
  type        = string
  default     = "168h"

  validation {
    condition     = can(regex("^[0-9]+h$", var.rotation_grace))
    error_message = "rotation_grace must be whole hours, e.g. 168h."
  }
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the bucket's default encryption (CMEK). Empty: Google-managed keys."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be empty or a full crypto key name."
  }
}

variable "redis_enabled" {
  description = "Provision a Memorystore Redis instance for a rate limit shared by all instances (REDIS_URL), reached over Direct VPC egress."
  type        = bool
  default     = false
}

variable "static_egress_ip" {
  description = "Send every outbound connection through Cloud NAT from one reserved static address (output egress_ip), for targets and webhook receivers that allow-list. The default way to one egress address; an upstream proxy (upstream_proxy_secret) is the other."
  type        = bool
  default     = false
}

variable "upstream_proxy_secret" {
  description = "The id of a Secret Manager secret in this project whose latest version is UPSTREAM_PROXY's URL (http://, https:// or socks5://, with credentials if it needs them): every capture's and webhook's connection goes through it after the egress guard's checks. Create the secret yourself; Terraform grants the run account access to it alone. Empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.upstream_proxy_secret == "" || can(regex("^[A-Za-z0-9_-]{1,255}$", var.upstream_proxy_secret))
    error_message = "upstream_proxy_secret must be a secret id (letters, digits, _ and -)."
  }
}

variable "proxy_chaining" {
  description = "With an upstream proxy, let a request's own proxy option ride behind it (PROXY_CHAINING). Off: a request with proxy is a 400."
  type        = bool
  default     = false
}

variable "chrome_no_sandbox" {
  description = "Run Chrome without its sandbox (CHROME_NO_SANDBOX). Keep false; set true only if the gen2 sandbox cannot start, and know that the egress guard and the non-root user then remain the only walls."
  type        = bool
  default     = false
}

variable "tasks_max_dispatches_per_second" {
  description = "Cloud Tasks' dispatch rate for asynchronous captures."
  type        = number
  default     = 20

  validation {
    condition     = var.tasks_max_dispatches_per_second > 0 && var.tasks_max_dispatches_per_second <= 500
    error_message = "tasks_max_dispatches_per_second must be between 0 and 500."
  }
}

variable "tasks_max_delay_seconds" {
  description = "Alert when asynchronous captures start this much later than scheduled (p99)."
  type        = number
  default     = 300
}

variable "tasks_max_depth" {
  description = "Alert when more asynchronous captures than this are queued."
  type        = number
  default     = 5000
}

variable "trace_sample_ratio" {
  description = "Share of requests traced when the load balancer did not sample them already (TRACE_SAMPLE_RATIO); the load balancer's sampled requests are always traced."
  type        = number
  default     = 0.1
  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio must be between 0 and 1."
  }
}

variable "alert_browser_restarts_per_hour" {
  description = "Alert when Chrome died or stopped answering more than this many times in an hour, across instances."
  type        = number
  default     = 3
}

variable "alert_egress_refusals_per_client" {
  description = "Alert when one client's captures were refused more than this many connections by the egress guard in 5 minutes."
  type        = number
  default     = 50
}

variable "alert_auth_failures" {
  description = "Alert when more than this many credentials were refused in 5 minutes."
  type        = number
  default     = 100
}

variable "alert_job_age_seconds" {
  description = "Alert when the 95th percentile of an async capture's wait to start passes this many seconds."
  type        = number
  default     = 300
}

variable "monitors_max" {
  description = "Monitors (POST /monitors) one client may keep; each is a Cloud Scheduler job, billed per job a month past the free three per account. 0 turns monitors off and grants the service nothing in Cloud Scheduler."
  type        = number
  default     = 100

  validation {
    condition     = var.monitors_max >= 0 && var.monitors_max <= 10000 && floor(var.monitors_max) == var.monitors_max
    error_message = "monitors_max must be a whole number between 0 and 10000."
  }
}
