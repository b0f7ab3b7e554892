output "url" {
  description = "HTTPS endpoint of the cluster."
  value       = local.cloud ? ec_deployment.this[0].elasticsearch.https_endpoint : var.existing_url
}

output "api_key" {
  description = "Encoded API key for the functions (store it as a secret)."
  value       = local.cloud ? elasticstack_elasticsearch_security_api_key.functions[0].encoded : var.existing_api_key
  sensitive   = true
}
