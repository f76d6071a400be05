data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  tags = merge(var.tags, { "imapapi:name-prefix" = var.name_prefix })

  # The work queues of the bus. The app's SQS backend derives the names from
  # QUEUE_URL=sqs://<name_prefix>: <name_prefix>-<queue>, dead letters in <name>-dlq.
  queues = toset(["events", "submit"])

  api_port = 3000

  # Per role: Fargate size, bounds, and how long ECS waits after SIGTERM (ingest hands
  # its leases back, submit finishes the send in progress).
  roles = {
    api = {
      cpu          = var.api.cpu
      memory       = var.api.memory
      min          = var.api.min_count
      max          = var.api.max_count
      desired      = var.api.min_count
      stop_timeout = 30
    }
    ingest = {
      cpu          = var.ingest.cpu
      memory       = var.ingest.memory
      min          = var.ingest.min_count
      max          = var.ingest.max_count
      desired      = var.ingest.desired_count
      stop_timeout = 60
    }
    dispatch = {
      cpu          = var.dispatch.cpu
      memory       = var.dispatch.memory
      min          = var.dispatch.min_count
      max          = var.dispatch.max_count
      desired      = var.dispatch.min_count
      stop_timeout = 30
    }
    submit = {
      cpu          = var.submit.cpu
      memory       = var.submit.memory
      min          = var.submit.min_count
      max          = var.submit.max_count
      desired      = var.submit.min_count
      stop_timeout = 90
    }
  }

  # The queue-driven workers and the queue each one consumes.
  workers = {
    dispatch = { queue = "events", backlog_per_task = var.dispatch.backlog_per_task, min = var.dispatch.min_count }
    submit   = { queue = "submit", backlog_per_task = var.submit.backlog_per_task, min = var.submit.min_count }
  }

  log_group_prefix = "/ecs/${var.name_prefix}"
}
