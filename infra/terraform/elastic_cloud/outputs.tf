output "url" {
  description = "HTTPS endpoint of the cluster (the environments' es_url)."
  value       = module.elasticsearch.url
}

output "api_key" {
  description = "Encoded API key for the functions (the environments' es_api_key)."
  value       = module.elasticsearch.api_key
  sensitive   = true
}
