output "url" {
  description = "host:port of Triton's HTTP endpoint on the internal load balancer (LOGO_ANN_TRITON_URL)."
  value       = "${google_compute_address.triton.address}:8000"
}

output "instance_group" {
  description = "Managed instance group, for rolling restarts after publishing models."
  value       = google_compute_region_instance_group_manager.triton.name
}
