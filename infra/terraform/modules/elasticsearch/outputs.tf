output "url" {
  description = "HTTPS endpoint of the cluster."
  value       = ec_deployment.this.elasticsearch.https_endpoint
}

output "api_key" {
  description = "Encoded API key for the functions (store it as a secret)."
  value       = elasticstack_elasticsearch_security_api_key.functions.encoded
  sensitive   = true
}
