# The api behind an ALB: HTTPS only (no port 80 listener: the API has no browser users
# to redirect), TLS terminated here, plain HTTP to the tasks inside the VPC.

resource "aws_lb" "api" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is optional and the caller's (rules depend on the API's clients); pass waf_web_acl_arn to attach one
  #checkov:skip=CKV2_AWS_76:No WAF is attached by default (see CKV2_AWS_28); the Log4j managed rule matters to whoever attaches one, and imapapi is Rust with no Java in the image
  #checkov:skip=CKV_AWS_91:Access logs need a bucket whose policy admits the regional ELB account; the bucket is the caller's, pass alb_access_logs_bucket to turn them on
  name               = "${var.name_prefix}-api"
  load_balancer_type = "application"
  internal           = var.alb_internal
  subnets            = var.public_subnet_ids
  security_groups    = [aws_security_group.alb.id]

  idle_timeout               = var.alb_idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == null ? [] : [var.alb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${var.name_prefix}-api"
      enabled = true
    }
  }

  tags = local.tags
}

resource "aws_wafv2_web_acl_association" "api" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.api.arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the api serves plain HTTP only, reachable solely from the ALB's security group inside the VPC
  name                 = "${var.name_prefix}-api"
  port                 = local.api_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 60

  # /health answers without basic auth: 200 when the task can reach its store.
  health_check {
    enabled             = true
    path                = "/health"
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.alb_ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  tags = local.tags
}
