# Application Auto Scaling for every service.
#   api:              ALB requests per target and CPU (target tracking).
#   ingest:           accounts per task, a custom metric each ingest task publishes.
#   dispatch, submit: queue backlog per task (target tracking on metric math), plus a
#                     step policy that wakes a service scaled to zero.

resource "aws_appautoscaling_target" "role" {
  for_each = local.roles

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.role[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
  tags               = local.tags
}

# --- api ---------------------------------------------------------------------------------

resource "aws_appautoscaling_policy" "api_requests" {
  name               = "${var.name_prefix}-api-requests-per-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.role["api"].service_namespace
  resource_id        = aws_appautoscaling_target.role["api"].resource_id
  scalable_dimension = aws_appautoscaling_target.role["api"].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.api.arn_suffix}/${aws_lb_target_group.api.arn_suffix}"
    }
  }
}

resource "aws_appautoscaling_policy" "api_cpu" {
  name               = "${var.name_prefix}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.role["api"].service_namespace
  resource_id        = aws_appautoscaling_target.role["api"].resource_id
  scalable_dimension = aws_appautoscaling_target.role["api"].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api.cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# --- ingest ------------------------------------------------------------------------------
# Each ingest task writes, every minute, the number of accounts whose lease it holds to its
# log in CloudWatch Embedded Metric Format (INGEST_EMF_NAMESPACE, INGEST_EMF_DIMENSIONS in
# ecs.tf): namespace <ingest.metric_namespace> (default "imapapi"), metric OwnedAccounts,
# unit Count, dimensions ClusterName=<cluster>, ServiceName=ingest. The Average over the
# tasks is the accounts per task. Scale-in is off by
# default: a stopped ingest task drops its IMAP sessions, which reconnect elsewhere once
# their leases expire (ingest.leaseTtl). New tasks take unowned accounts (new ones, those
# of a stopped task); existing sessions do not move to them by themselves.

resource "aws_appautoscaling_policy" "ingest_accounts" {
  name               = "${var.name_prefix}-ingest-accounts-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.role["ingest"].service_namespace
  resource_id        = aws_appautoscaling_target.role["ingest"].resource_id
  scalable_dimension = aws_appautoscaling_target.role["ingest"].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.ingest.accounts_per_task
    disable_scale_in   = !var.ingest.scale_in
    scale_in_cooldown  = 900
    scale_out_cooldown = 300

    customized_metric_specification {
      namespace   = var.ingest.metric_namespace
      metric_name = "OwnedAccounts"
      statistic   = "Average"
      unit        = "Count"

      dimensions {
        name  = "ClusterName"
        value = aws_ecs_cluster.this.name
      }
      dimensions {
        name  = "ServiceName"
        value = aws_ecs_service.role["ingest"].name
      }
    }
  }
}

# --- dispatch, submit --------------------------------------------------------------------

# Backlog per task = visible messages / running tasks (all visible messages while none
# runs; FILL: Container Insights may report nothing for a service with no task), kept
# near <role>.backlog_per_task.
resource "aws_appautoscaling_policy" "worker_backlog" {
  for_each = local.workers

  name               = "${var.name_prefix}-${each.key}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.role[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.role[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.role[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.backlog_per_task
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "Visible messages in ${aws_sqs_queue.work[each.value.queue].name}"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = aws_sqs_queue.work[each.value.queue].name
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running ${each.key} tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.role[each.key].name
            }
          }
        }
      }

      metrics {
        id          = "backlog"
        label       = "Backlog per ${each.key} task"
        expression  = "IF(FILL(tasks, 0) > 0, visible / FILL(tasks, 0), visible)"
        return_data = true
      }
    }
  }
}

# Target tracking cannot scale out from zero tasks: when min_count is 0, an alarm on
# "messages wait and no task is wanted" adds the first task; target tracking takes over.
resource "aws_appautoscaling_policy" "worker_wake" {
  for_each = { for k, v in local.workers : k => v if v.min == 0 }

  name               = "${var.name_prefix}-${each.key}-wake-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.role[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.role[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.role[each.key].scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 120
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_wake" {
  for_each = { for k, v in local.workers : k => v if v.min == 0 }

  alarm_name          = "${var.name_prefix}-${each.key}-wake-from-zero"
  alarm_description   = "Messages wait in ${aws_sqs_queue.work[each.value.queue].name} while ${each.key} has no task: start one."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_wake[each.key].arn]

  metric_query {
    id          = "visible"
    return_data = false
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.work[each.value.queue].name }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id          = "desired"
    return_data = false
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = aws_ecs_cluster.this.name, ServiceName = aws_ecs_service.role[each.key].name }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id          = "wake"
    label       = "Messages waiting with no ${each.key} task"
    expression  = "IF(FILL(visible, 0) > 0 AND FILL(desired, 0) == 0, 1, 0)"
    return_data = true
  }

  tags = local.tags
}
