output "search_url" {
  description = "HTTPS address of the search API (Robotoff-compatible routes under /api/v1/ann/...)."
  value       = module.search.uri
}

output "uploads_bucket" {
  description = "Bucket to upload product photos to: every finalized object is detected."
  value       = google_storage_bucket.uploads.name
}

output "models_bucket" {
  description = "Bucket holding the Triton model repository."
  value       = google_storage_bucket.models.name
}

output "sources_bucket" {
  description = "Bucket holding the function source archives."
  value       = google_storage_bucket.sources.name
}

output "crops_topic" {
  description = "Pub/Sub topic detect publishes crops messages to."
  value       = google_pubsub_topic.crops.name
}

output "dead_letter_topic" {
  description = "Pub/Sub topic receiving crops messages that exhausted their deliveries."
  value       = google_pubsub_topic.crops_dead_letter.name
}

output "dead_letter_subscription" {
  description = "Pull subscription keeping dead-lettered crops messages for inspection and replay."
  value       = google_pubsub_subscription.crops_dead_letter.name
}

output "triton_url" {
  description = "Internal host:port of Triton (reachable from the functions only)."
  value       = module.triton.url
}

output "triton_instance_group" {
  description = "Triton's managed instance group (restart it after publishing models)."
  value       = module.triton.instance_group
}

output "database_instance" {
  description = "Cloud SQL instance name."
  value       = module.database.instance_name
}

output "elasticsearch_url" {
  description = "Elasticsearch endpoint."
  value       = var.es_url
}

output "functions" {
  description = "Deployed function names."
  value       = [module.detect.name, module.detect_deleted.name, module.embed_index.name, module.search.name]
}

output "backfill_topic" {
  description = "Pub/Sub topic `logo-ann backfill --mode pubsub` publishes existing objects to (LOGO_ANN_BACKFILL_TOPIC)."
  value       = google_pubsub_topic.backfill.name
}

output "backfill_dead_letter_subscription" {
  description = "Pull subscription keeping backfill messages detect could not take (LOGO_ANN_BACKFILL_DEAD_LETTER_SUBSCRIPTION)."
  value       = google_pubsub_subscription.backfill_dead_letter.name
}

output "deployed_functions" {
  description = "Each function deployment as deployed (runtime, entry point, sizing, ingress, environment, secrets, trigger): what the Terraform tests check."
  value = {
    detect         = module.detect.config
    detect_deleted = module.detect_deleted.config
    embed_index    = module.embed_index.config
    search         = module.search.config
  }
}
