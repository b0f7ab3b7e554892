# Backfill of the objects already in a bucket (`logo-ann backfill --mode pubsub`). The command
# publishes one message per object (the storage event's data: bucket, name, generation, size)
# to the backfill topic, at the pace its --rate sets; a push subscription delivers each message
# to detect, which handles it as the object's upload event. Failed pushes are retried with
# back-off and, after backfill_max_delivery_attempts, moved to the backfill dead-letter topic,
# where a pull subscription keeps them for `logo-ann dead-letters list|replay --which backfill`.
# How many pushes run at once is bounded by detect's instances (var.functions["detect"]).

resource "google_pubsub_topic" "backfill" {
  project                    = var.project_id
  name                       = "${local.prefix}-backfill"
  labels                     = local.labels
  message_retention_duration = "604800s"
}

resource "google_pubsub_topic" "backfill_dead_letter" {
  project = var.project_id
  name    = "${local.prefix}-backfill-dead-letter"
  labels  = local.labels
}

resource "google_service_account" "backfill_pusher" {
  project      = var.project_id
  account_id   = "${local.prefix}-backfill-pusher"
  display_name = "Logo-ANN backfill push subscription (invokes detect)"
}

resource "google_pubsub_subscription" "backfill_detect" {
  project                    = var.project_id
  name                       = "${local.prefix}-backfill-detect"
  topic                      = google_pubsub_topic.backfill.id
  labels                     = local.labels
  ack_deadline_seconds       = local.wiring.queues.backfill.ack_deadline_s
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = module.detect.uri
    oidc_token {
      service_account_email = google_service_account.backfill_pusher.email
      audience              = module.detect.uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.backfill_dead_letter.id
    max_delivery_attempts = var.backfill_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "backfill_dead_letter" {
  project                    = var.project_id
  name                       = "${local.prefix}-backfill-dead-letter"
  topic                      = google_pubsub_topic.backfill_dead_letter.id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}

resource "google_cloud_run_v2_service_iam_member" "backfill_pusher_invokes_detect" {
  project  = var.project_id
  location = var.region
  name     = module.detect.name
  role     = "roles/run.invoker"
  member   = google_service_account.backfill_pusher.member
}

# Pub/Sub's service agent signs the push tokens and moves exhausted messages to the dead letters.
resource "google_service_account_iam_member" "pubsub_agent_signs_backfill_tokens" {
  service_account_id = google_service_account.backfill_pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_backfill_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.backfill_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_backfill" {
  project      = var.project_id
  subscription = google_pubsub_subscription.backfill_detect.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Operators (users or service accounts) who run `logo-ann backfill` and `logo-ann dead-letters`:
# they publish to the backfill and crops topics (replays) and read both dead-letter subscriptions.
locals {
  operator_topics = {
    backfill = google_pubsub_topic.backfill.name
    crops    = google_pubsub_topic.crops.name
  }
  operator_dead_letters = {
    backfill = google_pubsub_subscription.backfill_dead_letter.name
    crops    = google_pubsub_subscription.crops_dead_letter.name
  }
  operator_grants = {
    for pair in setproduct(var.operators, ["backfill", "crops"]) : "${pair[1]} ${pair[0]}" => {
      member = pair[0]
      queue  = pair[1]
    }
  }
}

resource "google_pubsub_topic_iam_member" "operators_publish" {
  for_each = local.operator_grants
  project  = var.project_id
  topic    = local.operator_topics[each.value.queue]
  role     = "roles/pubsub.publisher"
  member   = each.value.member
}

resource "google_pubsub_subscription_iam_member" "operators_read_dead_letters" {
  for_each     = local.operator_grants
  project      = var.project_id
  subscription = local.operator_dead_letters[each.value.queue]
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}
