//! Arithmetic expressions: tokenizer and recursive-descent parser evaluating as it goes.
//!
//! Grammar (`^` is right-associative and binds tighter than unary minus, as in maths):
//! ```text
//! sum     = product { ("+" | "-") product }
//! product = unary { ("*" | "/" | "%") unary }
//! unary   = ("-" | "+") unary | power
//! power   = atom [ "^" unary ]
//! atom    = number | constant | function "(" sum { "," sum } ")" | "(" sum ")"
//! ```

const MAX_LENGTH: usize = 10_000;
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Operator(char),
    Open,
    Close,
    Comma,
}

struct Lexed {
    token: Token,
    position: usize,
}

fn tokenize(text: &str) -> Result<Vec<Lexed>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut index = 0;
    while index < chars.len() {
        let (position, c) = chars[index];
        let column = position + 1;
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        let token = if c.is_ascii_digit() || c == '.' {
            let start = index;
            while index < chars.len()
                && (chars[index].1.is_ascii_digit() || chars[index].1 == '.' || chars[index].1 == '_')
            {
                index += 1;
            }
            // Scientific notation: 1e3, 2.5E-4.
            if index < chars.len() && matches!(chars[index].1, 'e' | 'E') {
                let mut look = index + 1;
                if look < chars.len() && matches!(chars[look].1, '+' | '-') {
                    look += 1;
                }
                if look < chars.len() && chars[look].1.is_ascii_digit() {
                    index = look;
                    while index < chars.len() && chars[index].1.is_ascii_digit() {
                        index += 1;
                    }
                }
            }
            let literal: String = chars[start..index].iter().map(|(_, c)| *c).filter(|c| *c != '_').collect();
            let value =
                literal.parse::<f64>().map_err(|_| format!("`{literal}` at column {column} is not a number"))?;
            tokens.push(Lexed { token: Token::Number(value), position: column });
            continue;
        } else if c.is_alphabetic() {
            let start = index;
            while index < chars.len() && (chars[index].1.is_alphanumeric() || chars[index].1 == '_') {
                index += 1;
            }
            let name: String = chars[start..index].iter().map(|(_, c)| *c).collect();
            tokens.push(Lexed { token: Token::Name(name.to_lowercase()), position: column });
            continue;
        } else {
            match c {
                '+' | '-' | '*' | '/' | '%' | '^' => Token::Operator(c),
                '×' => Token::Operator('*'),
                '÷' => Token::Operator('/'),
                '(' => Token::Open,
                ')' => Token::Close,
                ',' => Token::Comma,
                other => return Err(format!("unexpected character `{other}` at column {column}")),
            }
        };
        tokens.push(Lexed { token, position: column });
        index += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Lexed>,
    next: usize,
    depth: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|lexed| &lexed.token)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.next).map(|lexed| lexed.position).unwrap_or(self.end_column)
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the expression".to_owned(),
            Some(Token::Number(n)) => format!("number `{n}` at column {}", self.column()),
            Some(Token::Name(name)) => format!("`{name}` at column {}", self.column()),
            Some(Token::Operator(op)) => format!("`{op}` at column {}", self.column()),
            Some(Token::Open) => format!("`(` at column {}", self.column()),
            Some(Token::Close) => format!("`)` at column {}", self.column()),
            Some(Token::Comma) => format!("`,` at column {}", self.column()),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(format!("the expression nests deeper than {MAX_DEPTH} levels"))
        } else {
            Ok(())
        }
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        while let Some(Token::Operator(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.next += 1;
            let right = self.product()?;
            value = if op == '+' { value + right } else { value - right };
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        while let Some(Token::Operator(op @ ('*' | '/' | '%'))) = self.peek() {
            let op = *op;
            let column = self.column();
            self.next += 1;
            let right = self.unary()?;
            value = match op {
                '*' => value * right,
                _ if right == 0.0 => {
                    return Err(format!("division by zero at column {column}"));
                }
                '/' => value / right,
                _ => value % right,
            };
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, String> {
        self.enter()?;
        let value = match self.peek() {
            Some(Token::Operator('-')) => {
                self.next += 1;
                -self.unary()?
            }
            Some(Token::Operator('+')) => {
                self.next += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(value)
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.atom()?;
        if let Some(Token::Operator('^')) = self.peek() {
            self.next += 1;
            let exponent = self.unary()?;
            return Ok(base.powf(exponent));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64, String> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Token::Number(value)) => {
                self.next += 1;
                Ok(value)
            }
            Some(Token::Open) => {
                self.next += 1;
                self.enter()?;
                let value = self.sum()?;
                self.depth -= 1;
                self.expect_close(column)?;
                Ok(value)
            }
            Some(Token::Name(name)) => {
                self.next += 1;
                match name.as_str() {
                    "pi" => return Ok(std::f64::consts::PI),
                    "e" => return Ok(std::f64::consts::E),
                    _ => {}
                }
                if self.peek() != Some(&Token::Open) {
                    return Err(format!("unknown name `{name}` at column {column}; known constants are pi and e"));
                }
                self.next += 1;
                self.enter()?;
                let mut arguments = vec![self.sum()?];
                while self.peek() == Some(&Token::Comma) {
                    self.next += 1;
                    arguments.push(self.sum()?);
                }
                self.depth -= 1;
                self.expect_close(column)?;
                call_function(&name, &arguments, column)
            }
            _ => Err(format!("expected a number, a name or `(` but found {}", self.describe_next())),
        }
    }

    fn expect_close(&mut self, open_column: usize) -> Result<(), String> {
        if self.peek() == Some(&Token::Close) {
            self.next += 1;
            Ok(())
        } else {
            Err(format!("the `(` at column {open_column} is never closed: found {}", self.describe_next()))
        }
    }
}

fn call_function(name: &str, arguments: &[f64], column: usize) -> Result<f64, String> {
    let one = |f: fn(f64) -> f64| -> Result<f64, String> {
        match arguments {
            [x] => Ok(f(*x)),
            _ => Err(format!("`{name}` at column {column} takes 1 argument, got {}", arguments.len())),
        }
    };
    match name {
        "sqrt" => match arguments {
            [x] if *x < 0.0 => Err(format!("`sqrt` at column {column} of a negative number")),
            _ => one(f64::sqrt),
        },
        "abs" => one(f64::abs),
        "round" => one(f64::round),
        "floor" => one(f64::floor),
        "ceil" => one(f64::ceil),
        "ln" => one(f64::ln),
        "log10" => one(f64::log10),
        "sin" => one(f64::sin),
        "cos" => one(f64::cos),
        "tan" => one(f64::tan),
        "min" | "max" if arguments.is_empty() => {
            Err(format!("`{name}` at column {column} needs at least one argument"))
        }
        "min" => Ok(arguments.iter().copied().fold(f64::INFINITY, f64::min)),
        "max" => Ok(arguments.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        other => Err(format!(
            "unknown function `{other}` at column {column}; known: sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max"
        )),
    }
}

/// Evaluates `text`, or explains what is wrong with it.
pub(crate) fn evaluate(text: &str) -> Result<f64, String> {
    if text.len() > MAX_LENGTH {
        return Err(format!("the expression is longer than {MAX_LENGTH} characters"));
    }
    if text.trim().is_empty() {
        return Err("the expression is empty; try `2 + 2`".to_owned());
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, next: 0, depth: 0, end_column: text.chars().count() + 1 };
    let value = parser.sum()?;
    if parser.peek().is_some() {
        return Err(format!("unexpected {} after a complete expression", parser.describe_next()));
    }
    if !value.is_finite() {
        return Err("the result is not a finite number (too large, or undefined)".to_owned());
    }
    Ok(value)
}

/// Formats a result: integers without a fraction, others with up to 12 significant decimals.
pub(crate) fn format_number(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.12}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{evaluate, format_number};

    fn show(text: &str) -> String {
        match evaluate(text) {
            Ok(value) => format_number(value),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn evaluates_with_precedence() {
        assert_eq!(show("1 + 2 * 3"), "7");
        assert_eq!(show("-2 ^ 2"), "-4");
        assert_eq!(show("2 ^ 3 ^ 2"), "512");
        assert_eq!(show("max(1, 7, 3) + sqrt(16)"), "11");
        assert_eq!(show("10 / 4"), "2.5");
        assert_eq!(show("1e3 + 1_000"), "2000");
    }

    #[test]
    fn explains_bad_input() {
        assert_eq!(show("1 / 0"), "error: division by zero at column 3");
        assert_eq!(show("(1 + 2"), "error: the `(` at column 1 is never closed: found the end of the expression");
        assert_eq!(show("2 $ 3"), "error: unexpected character `$` at column 3");
        assert_eq!(
            show("foo(1)"),
            "error: unknown function `foo` at column 1; known: sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max"
        );
    }
}
