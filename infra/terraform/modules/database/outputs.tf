output "instance_name" {
  description = "Cloud SQL instance name."
  value       = google_sql_database_instance.this.name
}

output "private_ip" {
  description = "Private IP address of the instance."
  value       = google_sql_database_instance.this.private_ip_address
}

output "database_url" {
  description = "postgresql:// URL of the application user over private IP with TLS required (store it as a secret)."
  value       = "postgresql://${google_sql_user.app.name}:${random_password.app.result}@${google_sql_database_instance.this.private_ip_address}:5432/${google_sql_database.this.name}?sslmode=require"
  sensitive   = true
}
