# Cloud SQL as the google provider's schema sees it (API mocked): reachable on a private IP only,
# TLS required, backed up, and the functions' URL pointing at that private address.

mock_provider "google" {
  mock_resource "google_sql_database_instance" {
    defaults = { private_ip_address = "10.20.0.3" }
  }
}
mock_provider "random" {}

variables {
  project_id                  = "logo-ann-test-1"
  region                      = "europe-west1"
  prefix                      = "logo-ann-dev"
  network_id                  = "projects/logo-ann-test-1/global/networks/logo-ann-dev"
  private_services_connection = "logo-ann-dev-psa"
  tier                        = "db-custom-1-3840"
  availability_type           = "ZONAL"
  disk_size_gb                = 10
  max_connections             = 100
  backup_retained_count       = 7
  deletion_protection         = true
}

run "postgres_on_a_private_ip_only" {
  command = apply

  assert {
    condition     = google_sql_database_instance.this.database_version == "POSTGRES_15"
    error_message = "the project targets PostgreSQL 15"
  }
  assert {
    condition     = google_sql_database_instance.this.settings[0].ip_configuration[0].ipv4_enabled == false
    error_message = "the instance must have no public IP"
  }
  assert {
    condition     = google_sql_database_instance.this.settings[0].ip_configuration[0].private_network == var.network_id
    error_message = "the instance's private IP must be on the environment's network"
  }
  assert {
    condition     = google_sql_database_instance.this.settings[0].ip_configuration[0].ssl_mode == "ENCRYPTED_ONLY"
    error_message = "connections must use TLS"
  }
  assert {
    condition     = google_sql_database_instance.this.settings[0].backup_configuration[0].enabled && google_sql_database_instance.this.settings[0].backup_configuration[0].point_in_time_recovery_enabled
    error_message = "daily backups with point-in-time recovery"
  }
  assert {
    condition     = google_sql_database_instance.this.deletion_protection && google_sql_database_instance.this.settings[0].deletion_protection_enabled
    error_message = "deletion protection is not passed through"
  }
  assert {
    condition     = strcontains(nonsensitive(output.database_url), "@10.20.0.3:5432/") && strcontains(nonsensitive(output.database_url), "sslmode=require")
    error_message = "the functions' URL must reach the private IP over TLS"
  }
  assert {
    condition     = contains([for flag in google_sql_database_instance.this.settings[0].database_flags : "${flag.name}=${flag.value}"], "max_connections=100")
    error_message = "max_connections is not passed through"
  }
}
