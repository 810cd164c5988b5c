# Only the bundled Terraform ruleset: plugins would need a download.
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
