# The prod environment as the google and random providers' schemas see it (APIs mocked): its
# sizing and validations, and the bounds that cap what a flood of search requests costs.

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
      email  = "logo-ann-prod-fn@logo-ann-prod-1.iam.gserviceaccount.com"
      member = "serviceAccount:logo-ann-prod-fn@logo-ann-prod-1.iam.gserviceaccount.com"
      name   = "projects/logo-ann-prod-1/serviceAccounts/logo-ann-prod-fn@logo-ann-prod-1.iam.gserviceaccount.com"
    }
  }
  mock_resource "google_compute_network" {
    defaults = { id = "projects/logo-ann-prod-1/global/networks/logo-ann-prod" }
  }
}
mock_provider "random" {}

variables {
  project_id = "logo-ann-prod-1"
  es_url     = "https://es.example.test:9243"
  es_api_key = "test-only-key"
  source_dir = "../../tests/fixtures"
}

run "search_is_bounded_so_a_flood_costs_a_known_amount" {
  command = apply

  assert {
    condition     = module.logo_ann.deployed_functions.search.max_instances == 10 && module.logo_ann.deployed_functions.search.concurrency == 16 && module.logo_ann.deployed_functions.search.min_instances == 1
    error_message = "search must run at most 10 instances of 16 concurrent requests (1 kept warm): main.tf says why"
  }
  assert {
    condition     = module.logo_ann.deployed_functions.search.memory == "4Gi" && module.logo_ann.deployed_functions.search.cpu == "2"
    error_message = "search's instance size is what the flood ceiling in main.tf is computed with"
  }
  assert {
    condition     = module.logo_ann.deployed_functions.search.environment["LOGO_ANN_DB_POOL_SIZE"] == "16"
    error_message = "each concurrent search request holds one database connection"
  }
}

run "only_search_is_public_and_it_has_the_queue" {
  command = apply

  assert {
    condition     = [for dep, config in module.logo_ann.deployed_functions : dep if config.ingress != "ALLOW_INTERNAL_ONLY"] == ["search"]
    error_message = "only search accepts traffic from outside"
  }
  assert {
    condition     = module.logo_ann.deployed_functions.search.environment["LOGO_ANN_QUEUE"] == "pubsub" && module.logo_ann.deployed_functions.search.environment["LOGO_ANN_CROPS_TOPIC"] == module.logo_ann.crops_topic
    error_message = "search must send re-votes past the inline bound through the crops topic"
  }
  assert {
    condition     = alltrue([for dep, config in module.logo_ann.deployed_functions : config.environment["LOGO_ANN_ES_URL"] == var.es_url])
    error_message = "every function must reach the cluster given as es_url"
  }
}

run "refuses_a_plain_http_cluster" {
  command = plan
  variables {
    es_url = "http://es.example.test:9200"
  }
  expect_failures = [var.es_url]
}
