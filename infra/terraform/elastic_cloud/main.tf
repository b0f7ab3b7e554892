# The Elastic Cloud deployment of one environment, in a root of its own: the environments
# (environments/dev, environments/prod) take its URL and API key as inputs (es_url, es_api_key),
# so they need only the google and random providers, and an existing cluster works the same way.
#
#   terraform -chdir=infra/terraform/elastic_cloud init -backend-config=...
#   terraform -chdir=infra/terraform/elastic_cloud apply -var name=logo-ann-dev
#   export TF_VAR_es_url=$(terraform -chdir=infra/terraform/elastic_cloud output -raw url)
#   export TF_VAR_es_api_key=$(terraform -chdir=infra/terraform/elastic_cloud output -raw api_key)

module "elasticsearch" {
  source        = "../modules/elasticsearch"
  name          = var.name
  ec_region     = var.ec_region
  ec_hot_size   = var.ec_hot_size
  ec_zone_count = var.ec_zones
  index_pattern = "${var.es_index}*"
}
