output "search_url" {
  description = "HTTPS address of the search API."
  value       = module.logo_ann.search_url
}

output "uploads_bucket" {
  description = "Bucket whose uploads are detected, embedded and indexed."
  value       = module.logo_ann.uploads_bucket
}

output "models_bucket" {
  description = "Bucket holding the Triton model repository."
  value       = module.logo_ann.models_bucket
}

output "crops_topic" {
  description = "Crops Pub/Sub topic."
  value       = module.logo_ann.crops_topic
}

output "dead_letter_topic" {
  description = "Dead-letter Pub/Sub topic of the crops queue."
  value       = module.logo_ann.dead_letter_topic
}

output "dead_letter_subscription" {
  description = "Subscription holding dead-lettered crops messages."
  value       = module.logo_ann.dead_letter_subscription
}

output "triton_instance_group" {
  description = "Triton's managed instance group."
  value       = module.logo_ann.triton_instance_group
}

output "functions" {
  description = "Deployed function names."
  value       = module.logo_ann.functions
}

output "backfill_topic" {
  description = "Pub/Sub topic of `logo-ann backfill --mode pubsub`."
  value       = module.logo_ann.backfill_topic
}

output "backfill_dead_letter_subscription" {
  description = "Subscription holding dead-lettered backfill messages."
  value       = module.logo_ann.backfill_dead_letter_subscription
}
