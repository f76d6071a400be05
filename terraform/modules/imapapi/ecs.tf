# One Fargate cluster; per role a log group, a task definition and a service, all from
# the same image with the role as its command.

resource "aws_cloudwatch_log_group" "role" {
  for_each = local.roles

  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# ECS Exec sessions (off on the services; kept encrypted and logged when turned on).
resource "aws_cloudwatch_log_group" "exec" {
  name              = "${local.log_group_prefix}/ecs-exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name_prefix}-imapapi"

  # Container Insights also provides RunningTaskCount/DesiredTaskCount, which the
  # dispatch and submit autoscaling divide the queue backlog by.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.this.arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }
  }

  tags = local.tags
}

locals {
  environment = merge(var.extra_environment, {
    QUEUE_URL  = "sqs://${var.name_prefix}"
    AWS_REGION = local.region
    API_HOST   = "0.0.0.0"
    API_PORT   = tostring(local.api_port)
    LOG_LEVEL  = var.log_level
    # The app renews visibility while it works and uses this on every receive.
    QUEUE_VISIBILITY_TIMEOUT = "${var.sqs_visibility_timeout_seconds}s"
  })

  # ingest writes the accounts it holds as an EMF metric that its autoscaling follows.
  # The service is named after its role (aws_ecs_service.role below).
  role_environment = {
    for role in keys(local.roles) : role => merge(local.environment, role == "ingest" ? {
      INGEST_EMF_NAMESPACE  = var.ingest.metric_namespace
      INGEST_EMF_DIMENSIONS = "ClusterName=${var.name_prefix}-imapapi,ServiceName=ingest"
    } : {})
  }

  container_definitions = {
    for role, r in local.roles : role => [merge(
      {
        name                   = role
        image                  = var.image
        essential              = true
        command                = [role]
        readonlyRootFilesystem = true
        stopTimeout            = r.stop_timeout
        environment            = [for k in sort(keys(local.role_environment[role])) : { name = k, value = local.role_environment[role][k] }]
        secrets                = [for k in sort(keys(local.role_secrets[role])) : { name = k, valueFrom = local.role_secrets[role][k] }]
        linuxParameters        = { initProcessEnabled = true }
        # ingest holds one IMAP connection per account plus command connections.
        ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.role[role].name
            awslogs-region        = local.region
            awslogs-stream-prefix = role
          }
        }
        portMappings = role == "api" ? [{ containerPort = local.api_port, protocol = "tcp" }] : []
      },
      role == "api" ? {
        # The image's health check script: GET /v1/stats (with IMAPAPI_AUTH when set).
        healthCheck = {
          command     = ["CMD", "/usr/local/bin/imapapi-healthcheck"]
          interval    = 30
          timeout     = 5
          retries     = 3
          startPeriod = 30
        }
      } : {}
    )]
  }
}

resource "aws_ecs_task_definition" "role" {
  for_each = local.roles

  family                   = "${var.name_prefix}-imapapi-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(each.value.cpu)
  memory                   = tostring(each.value.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions    = jsonencode(local.container_definitions[each.key])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = local.tags
}

resource "aws_ecs_service" "role" {
  for_each = local.roles

  name             = each.key
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.role[each.key].arn
  desired_count    = each.value.desired
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  enable_execute_command  = false
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # ingest: start the new task before stopping the old one, so accounts move by lease.
  deployment_minimum_healthy_percent = each.key == "ingest" ? 100 : 50
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = each.key == "api" ? [aws_security_group.tasks.id, aws_security_group.api.id] : [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.key == "api" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.api.arn
      container_name   = "api"
      container_port   = local.api_port
    }
  }

  health_check_grace_period_seconds = each.key == "api" ? 60 : null

  tags = local.tags

  # The task count belongs to Application Auto Scaling after the first apply.
  lifecycle {
    ignore_changes = [desired_count]
  }

  # Tasks read their secrets at start: the values must exist first (REDIS_URL only once
  # Redis is up, which takes a while on the first apply).
  depends_on = [
    aws_lb_listener.https,
    aws_iam_role_policy.execution,
    aws_secretsmanager_secret_version.redis_url,
    aws_secretsmanager_secret_version.service_secret,
    aws_secretsmanager_secret_version.api_auth,
  ]
}
