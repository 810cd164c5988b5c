# Monitors (POST /monitors) are Cloud Scheduler jobs the service creates and
# deletes at run time, one per monitor, named SCHEDULER_JOB_PREFIX + its id.
# When one is due it calls the internal route through the load balancer with
# an OIDC token of the tasks account (the same check as a Cloud Tasks
# delivery), and the service queues the run on Cloud Tasks.
#
# The grant is the least Cloud Scheduler allows: create, update, read and
# delete jobs; no list, run, pause or resume, no other target identity (the
# run account may act as the tasks account alone). Cloud Scheduler does not
# recognise IAM Conditions' resource names, so the prefix cannot be a
# condition: the service only ever names jobs with it, and a project of the
# deployment's own keeps other jobs out of reach. Jobs are not in Terraform's
# state: delete the monitors before `terraform destroy`
# (docs/visual-testing.md#monitors).

locals {
  monitor_job_prefix = "${var.name}-monitor${var.name_suffix}-"
}

resource "google_project_iam_custom_role" "monitor_jobs" {
  project     = var.project_id
  role_id     = "${replace(var.name, "-", "_")}_monitor_jobs${replace(var.name_suffix, "-", "_")}"
  title       = "Pixashot monitor schedules"
  description = "Creates, updates, reads and deletes the Cloud Scheduler jobs of monitors; cannot list, run, pause or resume jobs."
  permissions = ["cloudscheduler.jobs.create", "cloudscheduler.jobs.update", "cloudscheduler.jobs.get", "cloudscheduler.jobs.delete"]

  depends_on = [time_sleep.apis_settle]
}

resource "google_project_iam_member" "run_monitor_jobs" {
  count   = var.monitors_max > 0 ? 1 : 0
  project = var.project_id
  role    = google_project_iam_custom_role.monitor_jobs.id
  member  = google_service_account.run.member
}
