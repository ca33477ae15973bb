//! Procedural macros of `weir-sdk`; use them through `weir_sdk`, e.g.
//! `#[weir_sdk::sequence]`.
//!
//! The generated code names only `::weir_sdk` paths, so a plugin depends on `weir-sdk`
//! alone. Every misuse is reported with `syn::Error` at the offending tokens.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReturnType};

const SIGNATURE: &str = "fn NAME(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()>";

/// Exports `fn NAME(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()>` as the plugin's
/// sequence. See `weir_sdk::sequence` for the documentation.
#[proc_macro_attribute]
pub fn sequence(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "`#[weir_sdk::sequence]` takes no arguments",
        ));
    }
    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        _ => {
            return Err(syn::Error::new_spanned(
                item,
                format!("`#[weir_sdk::sequence]` goes on a function: `{SIGNATURE}`"),
            ));
        }
    };
    check_signature(&func)?;

    let name = &func.sig.ident;
    // Spanned at the signature: a wrong argument or return type is reported there.
    let call = quote_spanned! {func.sig.span()=>
        ::weir_sdk::__private::run(#name)
    };
    Ok(quote! {
        #func

        #[doc(hidden)]
        struct __WeirSequence;

        impl ::weir_sdk::__private::Guest for __WeirSequence {
            fn run() -> ::core::result::Result<(), ::std::string::String> {
                #call
            }
        }

        ::weir_sdk::__private::export_sequence!(__WeirSequence);
    })
}

/// Checks what the type checker would report poorly; the types themselves it checks well.
fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    let refuse = |tokens: &dyn quote::ToTokens, what: &str| {
        Err(syn::Error::new_spanned(
            tokens,
            format!("a sequence function {what}: `{SIGNATURE}`"),
        ))
    };
    if let Some(asyncness) = &sig.asyncness {
        return refuse(asyncness, "cannot be `async`");
    }
    if let Some(unsafety) = &sig.unsafety {
        return refuse(unsafety, "cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        return refuse(abi, "cannot have an ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return refuse(&sig.generics, "cannot be generic");
    }
    if let Some(variadic) = &sig.variadic {
        return refuse(variadic, "cannot be variadic");
    }
    match sig.inputs.len() {
        1 => {}
        0 => return refuse(&sig.ident, "takes one argument, the context"),
        _ => return refuse(&sig.inputs, "takes exactly one argument, the context"),
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return refuse(receiver, "is a free function, not a method");
    }
    if let ReturnType::Default = sig.output {
        return refuse(&sig.ident, "returns `weir_sdk::Result<()>`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(item: TokenStream2) -> String {
        match expand(TokenStream2::new(), item) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_well_formed_function_expands_to_the_export_glue() {
        let out = expand(
            TokenStream2::new(),
            quote! { fn run(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()> { Ok(()) } },
        )
        .map(|t| t.to_string())
        .unwrap_or_default();
        assert!(out.contains("export_sequence"), "{out}");
        assert!(
            out.contains(":: weir_sdk :: __private :: run (run)"),
            "{out}"
        );
    }

    #[test]
    fn misuse_is_reported_not_panicked() {
        assert!(error_of(quote! { struct S; }).contains("goes on a function"));
        assert!(error_of(quote! { async fn f(c: &mut C) -> R { } }).contains("`async`"));
        assert!(error_of(quote! { fn f<T>(c: &mut C) -> R { } }).contains("generic"));
        assert!(error_of(quote! { fn f() -> R { } }).contains("takes one argument"));
        assert!(error_of(quote! { fn f(a: A, b: B) -> R { } }).contains("exactly one"));
        assert!(error_of(quote! { fn f(c: &mut C) { } }).contains("returns"));
        let with_args = expand(quote! { x }, quote! { fn f(c: &mut C) -> R { } });
        assert!(with_args.is_err());
    }
}
