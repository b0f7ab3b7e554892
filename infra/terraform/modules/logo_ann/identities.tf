# One service account per function, plus the build, event-trigger and push identities, each with
# only the roles it needs; and the grants Google's Pub/Sub and Cloud Storage service agents need.

locals {
  runtime_accounts = {
    detect      = "Logo-ANN detect: reads uploads, publishes crops"
    embed_index = "Logo-ANN embed_index: reads uploads, writes index and database"
    search      = "Logo-ANN search: reads uploads, index and database"
  }
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_service_account" "function" {
  for_each     = local.runtime_accounts
  project      = var.project_id
  account_id   = "${local.prefix}-${replace(each.key, "_", "-")}"
  display_name = each.value
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "Logo-ANN function builds"
}

resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = "${local.prefix}-events"
  display_name = "Logo-ANN Eventarc triggers (invokes detect)"
}

resource "google_service_account" "pusher" {
  project      = var.project_id
  account_id   = "${local.prefix}-pusher"
  display_name = "Logo-ANN crops push subscription (invokes embed_index)"
}

# Every function reads uploaded images through its own HMAC key; none may write or delete them.
resource "google_storage_bucket_iam_member" "uploads_reader" {
  for_each = google_service_account.function
  bucket   = google_storage_bucket.uploads.name
  role     = "roles/storage.objectViewer"
  member   = each.value.member
}

# A function publishes only to the queues its wiring names: detect its crops, search the re-votes
# past revote_inline_max (both on the crops topic).
resource "google_pubsub_topic_iam_member" "function_publishes" {
  for_each = { for pair in flatten([for name, fn in local.wiring.functions : [for queue in fn.publishes : { function = name, queue = queue }]]) : "${pair.function}/${pair.queue}" => pair }
  project  = var.project_id
  topic    = local.topics[each.value.queue].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.function].member
}

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

resource "google_project_iam_member" "events_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.events.member
}

resource "google_cloud_run_v2_service_iam_member" "events_invoke_detect" {
  for_each = { finalized = module.detect.name, deleted = module.detect_deleted.name }
  project  = var.project_id
  location = var.region
  name     = each.value
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

resource "google_cloud_run_v2_service_iam_member" "pusher_invokes_embed_index" {
  project  = var.project_id
  location = var.region
  name     = module.embed_index.name
  role     = "roles/run.invoker"
  member   = google_service_account.pusher.member
}

resource "google_cloud_run_v2_service_iam_member" "search_public" {
  count    = var.search_public ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = module.search.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Cloud Storage's service agent publishes the bucket's events for Eventarc.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_agent_publishes" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

# Pub/Sub's service agent signs the push tokens and moves exhausted messages to the dead letters.
resource "google_service_account_iam_member" "pubsub_agent_signs_push_tokens" {
  service_account_id = google_service_account.pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.crops_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_source" {
  project      = var.project_id
  subscription = google_pubsub_subscription.embed_index.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
