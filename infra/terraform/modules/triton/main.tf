# Triton on a GPU: a managed instance group on Container-Optimized OS, serving the model repository
# from a bucket, behind an internal TCP load balancer. No public address; the firewall admits only
# the functions' connector range and Google's health checkers.

locals {
  port = 8000
  tag  = "${var.prefix}-triton"
}

resource "google_service_account" "triton" {
  project      = var.project_id
  account_id   = "${substr(var.prefix, 0, 20)}-triton"
  display_name = "Triton server (reads the model repository)"
}

resource "google_storage_bucket_iam_member" "models_reader" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.triton.email}"
}

resource "google_project_iam_member" "triton" {
  for_each = toset(["roles/logging.logWriter", "roles/monitoring.metricWriter"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.triton.email}"
}

resource "google_compute_instance_template" "triton" {
  project      = var.project_id
  name_prefix  = "${var.prefix}-triton-"
  machine_type = var.machine_type
  tags         = [local.tag]

  disk {
    source_image = "projects/cos-cloud/global/images/family/cos-stable"
    disk_size_gb = 50
    disk_type    = "pd-balanced"
    boot         = true
    auto_delete  = true
  }

  network_interface {
    subnetwork = var.subnet_id
  }

  guest_accelerator {
    type  = var.gpu.type
    count = var.gpu.count
  }

  scheduling {
    on_host_maintenance = "TERMINATE"
    automatic_restart   = !var.spot
    preemptible         = var.spot
    provisioning_model  = var.spot ? "SPOT" : "STANDARD"
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
    google-logging-enabled = "true"
    startup-script = templatefile("${path.module}/startup.sh.tftpl", {
      image  = var.triton_image
      bucket = var.model_bucket
      port   = local.port
    })
  }

  service_account {
    email  = google_service_account.triton.email
    scopes = ["cloud-platform"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_health_check" "triton" {
  project             = var.project_id
  name                = "${var.prefix}-triton-ready"
  check_interval_sec  = 10
  timeout_sec         = 5
  healthy_threshold   = 2
  unhealthy_threshold = 3

  http_health_check {
    port         = local.port
    request_path = "/v2/health/ready"
  }
}

resource "google_compute_region_instance_group_manager" "triton" {
  project                   = var.project_id
  name                      = "${var.prefix}-triton"
  region                    = var.region
  base_instance_name        = "${var.prefix}-triton"
  distribution_policy_zones = var.zones
  target_size               = var.instances

  version {
    instance_template = google_compute_instance_template.triton.id
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.triton.id
    initial_delay_sec = 600
  }

  update_policy {
    type                         = "PROACTIVE"
    minimal_action               = "REPLACE"
    instance_redistribution_type = "NONE"
    max_surge_fixed              = length(var.zones)
    max_unavailable_fixed        = 0
  }
}

resource "google_compute_region_backend_service" "triton" {
  project               = var.project_id
  name                  = "${var.prefix}-triton"
  region                = var.region
  protocol              = "TCP"
  load_balancing_scheme = "INTERNAL"
  health_checks         = [google_compute_health_check.triton.id]

  backend {
    group          = google_compute_region_instance_group_manager.triton.instance_group
    balancing_mode = "CONNECTION"
  }
}

resource "google_compute_address" "triton" {
  project      = var.project_id
  name         = "${var.prefix}-triton"
  region       = var.region
  subnetwork   = var.subnet_id
  address_type = "INTERNAL"
}

resource "google_compute_forwarding_rule" "triton" {
  project               = var.project_id
  name                  = "${var.prefix}-triton"
  region                = var.region
  load_balancing_scheme = "INTERNAL"
  backend_service       = google_compute_region_backend_service.triton.id
  ip_address            = google_compute_address.triton.address
  ip_protocol           = "TCP"
  ports                 = [tostring(local.port)]
  network               = var.network_id
  subnetwork            = var.subnet_id
}

resource "google_compute_firewall" "clients" {
  project       = var.project_id
  name          = "${var.prefix}-triton-clients"
  network       = var.network_id
  direction     = "INGRESS"
  source_ranges = var.client_cidrs
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(local.port)]
  }
}

resource "google_compute_firewall" "health_checks" {
  project       = var.project_id
  name          = "${var.prefix}-triton-health"
  network       = var.network_id
  direction     = "INGRESS"
  source_ranges = ["35.191.0.0/16", "130.211.0.0/22"]
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(local.port)]
  }
}
