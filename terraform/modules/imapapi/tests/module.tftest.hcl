# Applies the module to a mocked AWS provider (no credentials, no network):
#   cd terraform/modules/imapapi && terraform init -backend=false -plugin-dir=... && terraform test

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/mock:1" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mock/0123456789abcdef"
      arn_suffix = "app/mock/0123456789abcdef"
    }
  }
  mock_resource "aws_appautoscaling_policy" {
    defaults = { arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:mock" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mock/0123456789abcdef"
      arn_suffix = "targetgroup/mock/0123456789abcdef"
    }
  }
}

variables {
  name_prefix        = "imapapi-test"
  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  private_subnet_ids = ["subnet-0cccccccccccccccc", "subnet-0dddddddddddddddd"]
  certificate_arn    = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imapapi:test"
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_sqs_queue.work["events"].name == "imapapi-test-events" && aws_sqs_queue.dlq["submit"].name == "imapapi-test-submit-dlq"
    error_message = "queue names must be <name_prefix>-<queue> and <name_prefix>-<queue>-dlq"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.work["submit"].redrive_policy).maxReceiveCount == 12
    error_message = "redrive policy must carry sqs_max_receive_count"
  }
  assert {
    condition     = aws_sqs_queue.work["events"].receive_wait_time_seconds == 20
    error_message = "work queues must long-poll"
  }
  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.role["dispatch"].container_definitions)[0].environment : "${e.name}=${e.value}"], "QUEUE_URL=sqs://imapapi-test")
    error_message = "QUEUE_URL must be sqs://<name_prefix>"
  }
  assert {
    condition     = contains([for e in jsondecode(aws_ecs_task_definition.role["api"].container_definitions)[0].environment : "${e.name}=${e.value}"], "API_HOST=0.0.0.0")
    error_message = "the api must bind every interface"
  }
  assert {
    condition     = join(",", sort([for s in jsondecode(aws_ecs_task_definition.role["api"].container_definitions)[0].secrets : s.name])) == "IMAPAPI_AUTH,IMAPAPI_SECRET,REDIS_URL"
    error_message = "the api gets REDIS_URL, IMAPAPI_SECRET and IMAPAPI_AUTH as secrets"
  }
  assert {
    condition     = join(",", sort([for s in jsondecode(aws_ecs_task_definition.role["ingest"].container_definitions)[0].secrets : s.name])) == "IMAPAPI_SECRET,REDIS_URL"
    error_message = "ingest gets REDIS_URL and IMAPAPI_SECRET only"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.role["submit"].container_definitions)[0].command == ["submit"]
    error_message = "each role runs its role as the command"
  }
  assert {
    condition     = length(aws_appautoscaling_policy.worker_wake) == 0
    error_message = "no wake-from-zero policy while min_count > 0"
  }
  assert {
    condition     = aws_lb_target_group.api.health_check[0].path == "/health" && aws_lb_target_group.api.health_check[0].matcher == "200"
    error_message = "target group health check: /health, 200"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.transit_encryption_enabled && aws_elasticache_replication_group.this.at_rest_encryption_enabled && aws_elasticache_replication_group.this.automatic_failover_enabled
    error_message = "Redis: TLS, encryption at rest, failover with two nodes"
  }
  assert {
    condition = contains(
      jsondecode(aws_ecs_task_definition.role["ingest"].container_definitions)[0].environment,
      { name = "INGEST_EMF_DIMENSIONS", value = "ClusterName=imapapi-test-imapapi,ServiceName=ingest" }
    )
    error_message = "ingest writes its OwnedAccounts metric with the dimensions its autoscaling reads"
  }
  assert {
    condition = contains(
      jsondecode(aws_ecs_task_definition.role["dispatch"].container_definitions)[0].environment,
      { name = "QUEUE_VISIBILITY_TIMEOUT", value = "120s" }
    )
    error_message = "the app's visibility timeout follows the queues'"
  }
  assert {
    condition     = !strcontains(data.aws_iam_policy_document.task["ingest"].json, "PutMetricData")
    error_message = "ingest needs no CloudWatch API: its metric travels in the log"
  }
}

run "scale_to_zero_and_no_auth" {
  command = apply

  variables {
    submit                   = { min_count = 0 }
    dispatch                 = { min_count = 0, max_count = 2 }
    api_auth_enabled         = false
    redis_num_cache_clusters = 1
  }

  assert {
    condition     = length(aws_appautoscaling_policy.worker_wake) == 2 && aws_appautoscaling_target.role["submit"].min_capacity == 0
    error_message = "min_count 0 gives a wake-from-zero policy and min capacity 0"
  }
  assert {
    condition     = length(aws_secretsmanager_secret.api_auth) == 0 && aws_lb_target_group.api.health_check[0].matcher == "200"
    error_message = "without api auth: no IMAPAPI_AUTH secret, health check wants 200"
  }
  assert {
    condition     = !aws_elasticache_replication_group.this.automatic_failover_enabled
    error_message = "one Redis node: no automatic failover"
  }
}

run "rejects_bad_name_prefix" {
  command = plan
  variables {
    name_prefix = "Imapapi_Prod"
  }
  expect_failures = [var.name_prefix]
}

run "rejects_bad_cidr" {
  command = plan
  variables {
    alb_ingress_cidrs = ["10.0.0.0/33"]
  }
  expect_failures = [var.alb_ingress_cidrs]
}

run "rejects_negative_count" {
  command = plan
  variables {
    dispatch = { min_count = -1 }
  }
  expect_failures = [var.dispatch]
}

run "rejects_reserved_env" {
  command = plan
  variables {
    extra_environment = { QUEUE_URL = "amqp://elsewhere" }
  }
  expect_failures = [var.extra_environment]
}
