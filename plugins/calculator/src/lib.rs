//! Calculator: seed 002's calculator plugin as a tool. Evaluates arithmetic expressions
//! with a small recursive-descent parser, never `eval`, and explains bad input precisely.
//! The same evaluation answers `POST /evaluate`, which its chat-input widget calls.

mod expression;

use plugboard_sdk::{
    CallContext, HealthReport, HttpRequest, HttpResponse, Plugin, SelfTestResult, Settings, ToolSpec, export_plugin,
};
use serde_json::json;

struct Calculator;

fn expression_argument(arguments: &serde_json::Value) -> Result<&str, String> {
    arguments.get("expression").or_else(|| arguments.get("input")).and_then(serde_json::Value::as_str).ok_or_else(
        || "pass the expression as a string in `expression`, such as {\"expression\": \"2 + 2\"}".to_owned(),
    )
}

fn evaluate(text: &str) -> Result<String, String> {
    expression::evaluate(text).map(expression::format_number)
}

impl Plugin for Calculator {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Calculator)
    }

    fn tools(&mut self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "calculate",
            "Evaluates an arithmetic expression with + - * / % ^, parentheses, and the functions sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max; constants pi and e.",
            json!({
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "The expression, such as `2 * (3 + 4)`"}
                },
                "required": ["expression"]
            }),
        )]
    }

    fn call_tool(
        &mut self,
        _context: &CallContext,
        name: &str,
        arguments: serde_json::Value,
    ) -> Result<String, String> {
        match name {
            "calculate" => evaluate(expression_argument(&arguments)?),
            other => Err(format!("unknown tool `{other}`; this plugin has `calculate`")),
        }
    }

    fn run_command(&mut self, _context: &CallContext, name: &str, arguments: &str) -> Result<String, String> {
        match name {
            "calc" => evaluate(arguments).map(|value| format!("{} = {value}", arguments.trim())),
            other => Err(format!("unknown command `/{other}`")),
        }
    }

    fn handle_http(&mut self, _context: &CallContext, request: HttpRequest) -> HttpResponse {
        let path = request.uri.split('?').next().unwrap_or_default();
        if (request.method.as_str(), path) != ("POST", "/evaluate") {
            return HttpResponse::json(404, &json!({"error": format!("no route for {} {path}", request.method)}));
        }
        let arguments: serde_json::Value = match serde_json::from_slice(&request.body) {
            Ok(value) => value,
            Err(error) => return HttpResponse::json(400, &json!({"error": format!("the body is not JSON: {error}")})),
        };
        match expression_argument(&arguments).and_then(|text| evaluate(text).map(|result| (text, result))) {
            Ok((text, result)) => HttpResponse::json(200, &json!({"expression": text, "result": result})),
            Err(error) => HttpResponse::json(422, &json!({"error": error})),
        }
    }

    fn health(&mut self) -> HealthReport {
        HealthReport::healthy("ready")
    }

    fn self_test(&mut self) -> Vec<SelfTestResult> {
        let cases = [("1 + 2 * 3", Ok("7")), ("(1 + 2) * 3", Ok("9")), ("2 ^ 3 ^ 2", Ok("512")), ("1 / 0", Err(()))];
        cases
            .into_iter()
            .map(|(input, expected)| {
                let actual = evaluate(input);
                let passed = match (&actual, expected) {
                    (Ok(value), Ok(expected)) => value == expected,
                    (Err(_), Err(())) => true,
                    _ => false,
                };
                SelfTestResult::new(input, passed, format!("{actual:?}"))
            })
            .collect()
    }
}

export_plugin!(Calculator, hooks: [Tools, Commands, Http, Health, SelfTest]);
