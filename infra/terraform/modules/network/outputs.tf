output "network_id" {
  description = "Id of the VPC network."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "Name of the VPC network."
  value       = google_compute_network.this.name
}

output "subnet_id" {
  description = "Id of the subnet holding Triton and its internal load balancer."
  value       = google_compute_subnetwork.this.id
}

output "connector_id" {
  description = "Serverless VPC Access connector id, for the functions."
  value       = google_vpc_access_connector.this.id
}

output "connector_cidr" {
  description = "Source range of the functions' private traffic (firewall rules allow only it)."
  value       = var.connector_cidr
}

output "private_services_connection" {
  description = "Private service access peering, which Cloud SQL's private IP depends on."
  value       = google_service_networking_connection.private_services.id
}
