# The whole environment as the google and random providers' schemas see it (the providers are
# real, their APIs mocked; `command = apply` gives computed attributes mock values, so resources
# can be compared with each other). Each function must carry what wiring.json, rendered from
# common/deploy.py, says it receives.

mock_provider "google" {
  mock_data "google_project" {
    defaults = { number = "123456789012" }
  }
  mock_data "google_storage_project_service_account" {
    defaults = {
      email_address = "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
      member        = "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
    }
  }
  # Mock values the provider's own validators accept (IAM members, account ids, network ids).
  mock_resource "google_service_account" {
    defaults = {
      email  = "logo-ann-dev-other@logo-ann-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:logo-ann-dev-other@logo-ann-test-1.iam.gserviceaccount.com"
      name   = "projects/logo-ann-test-1/serviceAccounts/logo-ann-dev-other@logo-ann-test-1.iam.gserviceaccount.com"
    }
  }
  mock_resource "google_compute_network" {
    defaults = { id = "projects/logo-ann-test-1/global/networks/logo-ann-dev" }
  }
}
mock_provider "random" {}

# Each function account its own address, so the tests can tell them apart.
override_resource {
  target = google_service_account.function["detect"]
  values = {
    email  = "logo-ann-dev-detect@logo-ann-test-1.iam.gserviceaccount.com"
    member = "serviceAccount:logo-ann-dev-detect@logo-ann-test-1.iam.gserviceaccount.com"
  }
}
override_resource {
  target = google_service_account.function["embed_index"]
  values = {
    email  = "logo-ann-dev-embed-index@logo-ann-test-1.iam.gserviceaccount.com"
    member = "serviceAccount:logo-ann-dev-embed-index@logo-ann-test-1.iam.gserviceaccount.com"
  }
}
override_resource {
  target = google_service_account.function["search"]
  values = {
    email  = "logo-ann-dev-search@logo-ann-test-1.iam.gserviceaccount.com"
    member = "serviceAccount:logo-ann-dev-search@logo-ann-test-1.iam.gserviceaccount.com"
  }
}

variables {
  project_id          = "logo-ann-test-1"
  environment         = "dev"
  source_dir          = "../../tests/fixtures"
  deletion_protection = false
  es_url              = "https://es.example.test:9243"
  es_api_key          = "test-only-key"
  functions = {
    detect      = { memory = "2Gi", cpu = "1", timeout_s = 120, min_instances = 0, max_instances = 5, concurrency = 4 }
    embed_index = { memory = "2Gi", cpu = "1", timeout_s = 300, min_instances = 0, max_instances = 5, concurrency = 4 }
    search      = { memory = "4Gi", cpu = "2", timeout_s = 60, min_instances = 1, max_instances = 3, concurrency = 8 }
  }
  database = {
    tier              = "db-custom-1-3840"
    availability_type = "ZONAL"
    disk_size_gb      = 10
    max_connections   = 100
    backups           = 7
  }
}

run "functions_run_the_wired_code_at_their_sizes" {
  command = apply

  assert {
    condition     = { for dep, spec in local.wiring.deployments : dep => output.deployed_functions[dep].entry_point } == { detect = "detect", detect_deleted = "detect", embed_index = "embed_index", search = "search" }
    error_message = "a deployment's entry point is not its function's"
  }
  assert {
    condition     = alltrue([for dep, config in output.deployed_functions : config.runtime == "python311"])
    error_message = "every function runs on python311"
  }
  assert {
    condition     = alltrue([for dep, spec in local.wiring.deployments : output.deployed_functions[dep].memory == var.functions[spec.function].memory && output.deployed_functions[dep].cpu == var.functions[spec.function].cpu && output.deployed_functions[dep].timeout_s == var.functions[spec.function].timeout_s])
    error_message = "a function's memory, vCPU or timeout is not its sizing's"
  }
  assert {
    condition     = output.deployed_functions.detect_deleted.min_instances == 0
    error_message = "the deletions deployment keeps no warm instance"
  }
}

run "each_function_gets_the_wired_settings_and_secrets" {
  command = apply

  assert {
    condition = alltrue([
      for dep, spec in local.wiring.deployments :
      sort(keys(output.deployed_functions[dep].environment)) == sort(concat(keys(local.wiring.functions[spec.function].environment), keys(local.wiring.functions[spec.function].deployed)))
    ])
    error_message = "a function's plain variables are not exactly the wiring's"
  }
  assert {
    condition = alltrue(flatten([
      for dep, spec in local.wiring.deployments : [
        for env, value in local.wiring.functions[spec.function].environment : output.deployed_functions[dep].environment[env] == value
      ]
    ]))
    error_message = "a fixed setting (adapter choice) differs from the wiring's"
  }
  assert {
    condition = alltrue([
      for dep, spec in local.wiring.deployments :
      output.deployed_functions[dep].secrets == { for env, secret in local.wiring.functions[spec.function].secrets : env => google_secret_manager_secret.this[secret].secret_id }
    ])
    error_message = "a function's secret variables are not the wiring's secrets"
  }
  assert {
    condition     = output.deployed_functions.search.environment["LOGO_ANN_QUEUE"] == "pubsub" && output.deployed_functions.search.environment["LOGO_ANN_CROPS_TOPIC"] == google_pubsub_topic.crops.name && output.deployed_functions.search.environment["LOGO_ANN_PUBSUB_PROJECT"] == var.project_id
    error_message = "search must publish re-votes past the inline bound to the crops topic"
  }
  assert {
    condition     = output.deployed_functions.detect.environment["LOGO_ANN_CROPS_TOPIC"] == google_pubsub_topic.crops.name && output.deployed_functions.detect_deleted.environment == output.deployed_functions.detect.environment
    error_message = "detect (both deployments) publishes crops to the crops topic"
  }
  assert {
    condition     = alltrue([for dep, config in output.deployed_functions : config.environment["LOGO_ANN_BUCKET"] == google_storage_bucket.uploads.name && config.environment["LOGO_ANN_ES_URL"] == var.es_url && config.environment["LOGO_ANN_TRITON_URL"] == module.triton.url && config.environment["LOGO_ANN_S3_ENDPOINT_URL"] == "https://storage.googleapis.com"])
    error_message = "a function does not reach the uploads bucket, the cluster or Triton"
  }
  assert {
    condition     = alltrue([for dep, spec in local.wiring.deployments : output.deployed_functions[dep].environment["LOGO_ANN_DB_POOL_SIZE"] == tostring(var.functions[spec.function].concurrency)])
    error_message = "each database pool holds one connection per concurrent request"
  }
  assert {
    condition     = output.deployed_functions.embed_index.environment["LOGO_ANN_MAX_ATTEMPTS"] == tostring(var.max_delivery_attempts)
    error_message = "embed_index must know the push subscription's delivery attempts"
  }
  assert {
    condition     = nonsensitive(google_secret_manager_secret_version.this["es_api_key"].secret_data == var.es_api_key)
    error_message = "the cluster's API key is not the one given"
  }
}

run "only_search_is_public" {
  command = apply

  assert {
    condition     = { for dep, config in output.deployed_functions : dep => config.ingress } == { detect = "ALLOW_INTERNAL_ONLY", detect_deleted = "ALLOW_INTERNAL_ONLY", embed_index = "ALLOW_INTERNAL_ONLY", search = "ALLOW_ALL" }
    error_message = "only search accepts traffic from outside"
  }
  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.search_public) == 1 && google_cloud_run_v2_service_iam_member.search_public[0].member == "allUsers" && google_cloud_run_v2_service_iam_member.search_public[0].name == module.search.name
    error_message = "anyone may invoke search, and only search"
  }
  assert {
    condition = alltrue([
      for grant in concat(values(google_cloud_run_v2_service_iam_member.events_invoke_detect), [google_cloud_run_v2_service_iam_member.pusher_invokes_embed_index, google_cloud_run_v2_service_iam_member.backfill_pusher_invokes_detect]) :
      !contains(["allUsers", "allAuthenticatedUsers"], grant.member)
    ])
    error_message = "a non-search function may be invoked by the public"
  }
}

run "search_can_be_closed" {
  command = plan
  variables {
    search_public = false
  }
  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.search_public) == 0
    error_message = "search_public = false must remove the allUsers grant"
  }
}

run "eventarc_triggers_and_their_retry" {
  command = apply

  assert {
    condition     = output.deployed_functions.detect.trigger == [{ event_type = "google.cloud.storage.object.v1.finalized", retry_policy = "RETRY_POLICY_RETRY", filters = { bucket = google_storage_bucket.uploads.name } }]
    error_message = "detect must be triggered, with retries, by uploads finalized in the uploads bucket"
  }
  assert {
    condition     = output.deployed_functions.detect_deleted.trigger == [{ event_type = "google.cloud.storage.object.v1.deleted", retry_policy = "RETRY_POLICY_RETRY", filters = { bucket = google_storage_bucket.uploads.name } }]
    error_message = "detect_deleted must be triggered, with retries, by deletions in the uploads bucket"
  }
  assert {
    condition     = output.deployed_functions.embed_index.trigger == [] && output.deployed_functions.search.trigger == []
    error_message = "embed_index (push subscription) and search (HTTP) have no Eventarc trigger"
  }
  assert {
    condition     = sort([for grant in values(google_cloud_run_v2_service_iam_member.events_invoke_detect) : "${grant.name} ${grant.role} ${grant.member}"]) == sort([for name in [module.detect.name, module.detect_deleted.name] : "${name} roles/run.invoker ${google_service_account.events.member}"]) && google_project_iam_member.events_receiver.member == google_service_account.events.member
    error_message = "the triggers' identity must receive events and invoke both detect deployments"
  }
  assert {
    condition     = { for dep, spec in local.wiring.deployments : dep => [spec.trigger.event_type, spec.trigger.retry_policy] if spec.trigger.kind == "storage" } == { for dep, config in output.deployed_functions : dep => [config.trigger[0].event_type, config.trigger[0].retry_policy] if length(config.trigger) > 0 }
    error_message = "a storage trigger differs from the wiring's"
  }
}

run "push_subscriptions_dead_letter_and_cover_the_receiver" {
  command = apply

  assert {
    condition     = google_pubsub_subscription.embed_index.topic == google_pubsub_topic.crops.id && google_pubsub_subscription.embed_index.push_config[0].push_endpoint == module.embed_index.uri
    error_message = "the crops topic must push to embed_index"
  }
  assert {
    condition     = google_pubsub_subscription.embed_index.push_config[0].oidc_token[0].service_account_email == google_service_account.pusher.email
    error_message = "crops pushes must carry the pusher's identity token"
  }
  assert {
    condition     = google_pubsub_subscription.embed_index.dead_letter_policy[0].dead_letter_topic == google_pubsub_topic.crops_dead_letter.id && google_pubsub_subscription.embed_index.dead_letter_policy[0].max_delivery_attempts == var.max_delivery_attempts
    error_message = "crops messages must go to the crops dead-letter topic after max_delivery_attempts"
  }
  assert {
    condition     = google_pubsub_subscription.embed_index.ack_deadline_seconds == local.wiring.queues.crops.ack_deadline_s && google_pubsub_subscription.embed_index.ack_deadline_seconds >= var.functions["embed_index"].timeout_s
    error_message = "the crops ack deadline is not the wiring's or does not cover embed_index's timeout"
  }
  assert {
    condition     = google_pubsub_subscription.embed_index.retry_policy[0].minimum_backoff == "10s" && google_pubsub_subscription.embed_index.retry_policy[0].maximum_backoff == "600s"
    error_message = "failed crops pushes back off from 10 s to 600 s"
  }
  assert {
    condition     = google_pubsub_subscription.backfill_detect.push_config[0].push_endpoint == module.detect.uri && google_pubsub_subscription.backfill_detect.dead_letter_policy[0].dead_letter_topic == google_pubsub_topic.backfill_dead_letter.id && google_pubsub_subscription.backfill_detect.dead_letter_policy[0].max_delivery_attempts == var.backfill_max_delivery_attempts
    error_message = "the backfill topic must push to detect and dead-letter into its own topic"
  }
  assert {
    condition     = google_pubsub_subscription.backfill_detect.ack_deadline_seconds == local.wiring.queues.backfill.ack_deadline_s && google_pubsub_subscription.backfill_detect.ack_deadline_seconds >= var.functions["detect"].timeout_s
    error_message = "the backfill ack deadline is not the wiring's or does not cover detect's timeout"
  }
  assert {
    condition     = google_pubsub_subscription.backfill_detect.retry_policy[0].minimum_backoff == "10s" && google_pubsub_subscription.backfill_detect.retry_policy[0].maximum_backoff == "600s"
    error_message = "failed backfill pushes back off from 10 s to 600 s"
  }
  assert {
    condition     = google_pubsub_subscription.crops_dead_letter.topic == google_pubsub_topic.crops_dead_letter.id && google_pubsub_subscription.backfill_dead_letter.topic == google_pubsub_topic.backfill_dead_letter.id
    error_message = "dead letters need a pull subscription to be kept"
  }
  # Pub/Sub moves a message to the dead letters as its own service agent (named by the mocked
  # project number): without publishing on the dead-letter topic and subscribing on the source
  # subscription, a dead-letter policy is accepted by the API and never acts.
  assert {
    condition = alltrue(flatten([
      for pair in [[google_pubsub_subscription.embed_index, google_pubsub_topic.crops_dead_letter], [google_pubsub_subscription.backfill_detect, google_pubsub_topic.backfill_dead_letter]] : [
        contains([for grant in concat(values(google_pubsub_topic_iam_member.function_publishes), values(google_pubsub_topic_iam_member.operators_publish), [google_pubsub_topic_iam_member.pubsub_agent_dead_letters, google_pubsub_topic_iam_member.pubsub_agent_backfill_dead_letters]) : "${grant.topic} ${grant.role} ${grant.member}"], "${pair[1].name} roles/pubsub.publisher serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"),
        contains([for grant in concat(values(google_pubsub_subscription_iam_member.operators_read_dead_letters), [google_pubsub_subscription_iam_member.pubsub_agent_acks_source, google_pubsub_subscription_iam_member.pubsub_agent_acks_backfill]) : "${grant.subscription} ${grant.role} ${grant.member}"], "${pair[0].name} roles/pubsub.subscriber serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"),
      ]
    ]))
    error_message = "Pub/Sub's service agent cannot move a push subscription's exhausted messages to its dead-letter topic"
  }
}

run "rejects_too_few_delivery_attempts" {
  command = plan
  variables {
    max_delivery_attempts = 3
  }
  expect_failures = [var.max_delivery_attempts]
}

run "one_least_privilege_account_per_function" {
  command = apply

  assert {
    condition     = sort(keys(google_service_account.function)) == sort(keys(local.wiring.functions)) && length(distinct([for sa in google_service_account.function : sa.account_id])) == length(local.wiring.functions)
    error_message = "each function needs an account of its own"
  }
  assert {
    condition     = alltrue([for dep, spec in local.wiring.deployments : output.deployed_functions[dep].service_account == google_service_account.function[spec.function].email])
    error_message = "a function does not run as its own account"
  }
  assert {
    condition = toset([for grant in google_secret_manager_secret_iam_member.reader : "${grant.secret_id} ${grant.member}"]) == toset(flatten([
      for name, fn in local.wiring.functions : [for env, secret in fn.secrets : "${google_secret_manager_secret.this[secret].secret_id} ${google_service_account.function[name].member}"]
    ]))
    error_message = "a function may read a secret it is not wired to (or cannot read its own)"
  }
  assert {
    condition     = alltrue([for grant in google_secret_manager_secret_iam_member.reader : grant.role == "roles/secretmanager.secretAccessor"])
    error_message = "secret grants give more than access to the secret's value"
  }
  assert {
    condition = toset([for grant in google_pubsub_topic_iam_member.function_publishes : "${grant.topic} ${grant.member}"]) == toset([
      "${google_pubsub_topic.crops.name} ${google_service_account.function["detect"].member}",
      "${google_pubsub_topic.crops.name} ${google_service_account.function["search"].member}",
    ])
    error_message = "detect and search (re-votes) publish to the crops topic, and no function anywhere else"
  }
  assert {
    condition     = { for name, grant in google_storage_bucket_iam_member.uploads_reader : name => "${grant.bucket} ${grant.role} ${grant.member}" } == { for name, sa in google_service_account.function : name => "${google_storage_bucket.uploads.name} roles/storage.objectViewer ${sa.member}" }
    error_message = "each function reads the uploads bucket, and may not write it"
  }
  assert {
    condition = length(setintersection(
      toset([for sa in google_service_account.function : sa.member]),
      toset(concat([for g in google_project_iam_member.build : g.member], [google_project_iam_member.events_receiver.member, google_project_iam_member.gcs_agent_publishes.member])),
    )) == 0
    error_message = "a function account holds a project-wide role"
  }
}

run "search_is_bounded_so_a_flood_costs_a_known_amount" {
  command = apply

  assert {
    condition     = output.deployed_functions.search.max_instances == 3 && output.deployed_functions.search.concurrency == 8
    error_message = "search's max instances and per-instance concurrency are not the sizing's"
  }
}

run "refuses_an_unbounded_search" {
  command = plan
  variables {
    functions = {
      detect      = { memory = "2Gi", cpu = "1", timeout_s = 120, min_instances = 0, max_instances = 5, concurrency = 4 }
      embed_index = { memory = "2Gi", cpu = "1", timeout_s = 300, min_instances = 0, max_instances = 5, concurrency = 4 }
      search      = { memory = "4Gi", cpu = "2", timeout_s = 60, min_instances = 1, max_instances = 100, concurrency = 8 }
    }
  }
  expect_failures = [var.functions]
}
