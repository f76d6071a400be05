# Least privilege: one execution role (pull the image, read the four secrets, write the
# logs) and one task role per role, each limited to its queues and the module's key.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-imapapi-execution"
  description        = "imapapi ${var.name_prefix}: ECS task execution (image, secrets, logs)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteRoleLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.role : "${g.arn}:*"]
  }

  statement {
    sid       = "ReadTaskSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.all_secret_arns
  }

  statement {
    sid       = "DecryptTaskSecrets"
    actions   = ["kms:Decrypt"]
    resources = compact([aws_kms_key.this.arn, var.service_secret_kms_key_arn])
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid = "EcrLogin"
      # GetAuthorizationToken has no resource-level permissions.
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "PullImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
      resources = var.ecr_repository_arns
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "imapapi-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  for_each = local.roles

  name               = "${var.name_prefix}-imapapi-${each.key}"
  description        = "imapapi ${var.name_prefix}: the ${each.key} role's own AWS access"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

locals {
  q   = { for k, v in aws_sqs_queue.work : k => v.arn }
  dlq = { for k, v in aws_sqs_queue.dlq : k => v.arn }

  consume = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
  resolve = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]

  # role => list of { sid, actions, resources } on SQS.
  sqs_statements = {
    api = [
      { sid = "EnqueueSendJobs", actions = ["sqs:SendMessage"], resources = [local.q["submit"]] },
      # GET /v1/deadletters lists what ran out of attempts.
      { sid = "ListDeadLetters", actions = ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], resources = values(local.dlq) },
      { sid = "ResolveQueues", actions = local.resolve, resources = concat([local.q["submit"]], values(local.dlq)) },
    ]
    ingest = [
      { sid = "PublishEvents", actions = ["sqs:SendMessage"], resources = [local.q["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = [local.q["events"]] },
    ]
    dispatch = [
      { sid = "ConsumeEvents", actions = local.consume, resources = [local.q["events"]] },
      { sid = "DeadLetterEvents", actions = ["sqs:SendMessage"], resources = [local.dlq["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = [local.q["events"], local.dlq["events"]] },
    ]
    submit = [
      # Retries go back on the queue with a delay.
      { sid = "ConsumeSendJobs", actions = concat(local.consume, ["sqs:SendMessage"]), resources = [local.q["submit"]] },
      # messageSent, messageDeliveryError and messageFailed are events.
      { sid = "PublishSendEvents", actions = ["sqs:SendMessage"], resources = [local.q["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = [local.q["submit"], local.q["events"]] },
    ]
  }
}

data "aws_iam_policy_document" "task" {
  for_each = local.roles

  dynamic "statement" {
    for_each = local.sqs_statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # The queues are encrypted with the module's key: producers and consumers need it.
  statement {
    sid       = "UseQueueKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # ingest publishes the "accounts per task" metric its autoscaling follows.
  dynamic "statement" {
    for_each = each.key == "ingest" ? [1] : []
    content {
      sid = "PublishAccountMetric"
      # PutMetricData has no resource-level permissions; the namespace condition limits it.
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [var.ingest.metric_namespace]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.roles

  name   = "imapapi-${each.key}"
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
