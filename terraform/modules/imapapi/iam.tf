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

  # Every role looks up the URLs of the prefix's four queues at start (and a dead-letter
  # queue's ARN for the redrive policy it would create): metadata only.
  all_queues = concat(values(local.q), values(local.dlq))

  # role => list of { sid, actions, resources } on SQS.
  sqs_statements = {
    api = [
      { sid = "EnqueueSendJobs", actions = ["sqs:SendMessage"], resources = [local.q["submit"]] },
      # GET /v1/deadletters peeks: receive, then make visible again at once.
      { sid = "ListDeadLetters", actions = ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"], resources = values(local.dlq) },
      { sid = "ResolveQueues", actions = local.resolve, resources = local.all_queues },
    ]
    ingest = [
      { sid = "PublishEvents", actions = ["sqs:SendMessage"], resources = [local.q["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = local.all_queues },
    ]
    dispatch = [
      # A retry is a copy sent back to the queue with a delay, then the original deleted.
      { sid = "ConsumeEvents", actions = concat(local.consume, ["sqs:SendMessage"]), resources = [local.q["events"]] },
      { sid = "DeadLetterEvents", actions = ["sqs:SendMessage"], resources = [local.dlq["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = local.all_queues },
    ]
    submit = [
      { sid = "ConsumeSendJobs", actions = concat(local.consume, ["sqs:SendMessage"]), resources = [local.q["submit"]] },
      { sid = "DeadLetterSendJobs", actions = ["sqs:SendMessage"], resources = [local.dlq["submit"]] },
      # messageSent, messageDeliveryError and messageFailed are events.
      { sid = "PublishSendEvents", actions = ["sqs:SendMessage"], resources = [local.q["events"]] },
      { sid = "ResolveQueues", actions = local.resolve, resources = local.all_queues },
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

  # ingest's "accounts per task" metric needs no permission: it is written to the log
  # stream in CloudWatch Embedded Metric Format, and CloudWatch Logs extracts it.
}

resource "aws_iam_role_policy" "task" {
  for_each = local.roles

  name   = "imapapi-${each.key}"
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
