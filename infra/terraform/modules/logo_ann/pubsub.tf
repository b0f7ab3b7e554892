# The crops queue. detect publishes one message per image; a push subscription managed here
# delivers each message to embed_index with exponential back-off and, after
# max_delivery_attempts, moves it to the dead-letter topic, where a pull subscription keeps it
# for inspection and replay. (An Eventarc Pub/Sub trigger would create its own subscription, on
# which Terraform cannot set a dead-letter policy; this is the same push delivery, made explicit.)

resource "google_pubsub_topic" "crops" {
  project                    = var.project_id
  name                       = "${local.prefix}-crops"
  labels                     = local.labels
  message_retention_duration = "86400s"
}

resource "google_pubsub_topic" "crops_dead_letter" {
  project = var.project_id
  name    = "${local.prefix}-crops-dead-letter"
  labels  = local.labels
}

resource "google_pubsub_subscription" "embed_index" {
  project                    = var.project_id
  name                       = "${local.prefix}-crops-embed-index"
  topic                      = google_pubsub_topic.crops.id
  labels                     = local.labels
  ack_deadline_seconds       = local.wiring.queues.crops.ack_deadline_s
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = module.embed_index.uri
    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = module.embed_index.uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.crops_dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "crops_dead_letter" {
  project                    = var.project_id
  name                       = "${local.prefix}-crops-dead-letter"
  topic                      = google_pubsub_topic.crops_dead_letter.id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}
