# The bus's durable work queues, each with a dead-letter queue.

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                              = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = local.tags
}

resource "aws_sqs_queue" "work" {
  for_each = local.queues

  name                              = "${var.name_prefix}-${each.key}"
  visibility_timeout_seconds        = var.sqs_visibility_timeout_seconds
  message_retention_seconds         = var.sqs_message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.sqs_max_receive_count
  })

  tags = local.tags
}

# Only the queue's own work queue may redrive into a dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.work[each.key].arn]
  })
}

# Refuse any access that is not over TLS.
data "aws_iam_policy_document" "queue_tls_only" {
  for_each = merge(
    { for q in local.queues : q => aws_sqs_queue.work[q].arn },
    { for q in local.queues : "${q}-dlq" => aws_sqs_queue.dlq[q].arn },
  )

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "tls_only" {
  for_each = merge(
    { for q in local.queues : q => aws_sqs_queue.work[q].id },
    { for q in local.queues : "${q}-dlq" => aws_sqs_queue.dlq[q].id },
  )

  queue_url = each.value
  policy    = data.aws_iam_policy_document.queue_tls_only[each.key].json
}

# Anything in a dead-letter queue needs a look: webhooks or sends that ran out of attempts.
resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = local.queues

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages in ${aws_sqs_queue.dlq[each.key].name}: ${each.key} jobs gave up after ${var.sqs_max_receive_count} receives."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# The workers fall behind (or none runs).
resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = local.queues

  alarm_name          = "${var.name_prefix}-${each.key}-oldest-message-age"
  alarm_description   = "The oldest message of ${aws_sqs_queue.work[each.key].name} waits longer than ${lookup(var.queue_age_alarm_seconds, each.key, 600)} s."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.work[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = lookup(var.queue_age_alarm_seconds, each.key, 600)
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}
