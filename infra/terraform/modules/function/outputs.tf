output "name" {
  description = "Function name."
  value       = google_cloudfunctions2_function.this.name
}

output "service" {
  description = "Name of the Cloud Run service behind the function (for IAM and monitoring filters)."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}

output "uri" {
  description = "HTTPS address of the function."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "config" {
  description = "What was deployed: runtime, entry point, identity, sizing, ingress, plain environment, secret variable => secret id, and trigger (for checks and operators)."
  value = {
    runtime         = google_cloudfunctions2_function.this.build_config[0].runtime
    entry_point     = google_cloudfunctions2_function.this.build_config[0].entry_point
    service_account = google_cloudfunctions2_function.this.service_config[0].service_account_email
    memory          = google_cloudfunctions2_function.this.service_config[0].available_memory
    cpu             = google_cloudfunctions2_function.this.service_config[0].available_cpu
    timeout_s       = google_cloudfunctions2_function.this.service_config[0].timeout_seconds
    min_instances   = google_cloudfunctions2_function.this.service_config[0].min_instance_count
    max_instances   = google_cloudfunctions2_function.this.service_config[0].max_instance_count
    concurrency     = google_cloudfunctions2_function.this.service_config[0].max_instance_request_concurrency
    ingress         = google_cloudfunctions2_function.this.service_config[0].ingress_settings
    environment     = google_cloudfunctions2_function.this.service_config[0].environment_variables
    secrets         = { for s in google_cloudfunctions2_function.this.service_config[0].secret_environment_variables : s.key => s.secret }
    trigger = [for t in google_cloudfunctions2_function.this.event_trigger : {
      event_type   = t.event_type
      retry_policy = t.retry_policy
      filters      = { for f in t.event_filters : f.attribute => f.value }
    }]
  }
}
