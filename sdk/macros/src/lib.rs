//! Procedural macros of `weir-sdk`; use them through `weir_sdk`, e.g.
//! `#[weir_sdk::sequence]` and `#[weir_sdk::render]`.
//!
//! The generated code names only `::weir_sdk` paths, so a plugin depends on `weir-sdk`
//! alone. Every misuse is reported with `syn::Error` at the offending tokens.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReturnType};

/// What one attribute exports.
struct Export {
    /// The attribute's name, as in `#[weir_sdk::NAME]`.
    attribute: &'static str,
    /// What the plugin function is called in messages: "a sequence function".
    what: &'static str,
    /// The signature it must have.
    signature: &'static str,
    /// Its one argument, for "takes one argument, {argument}".
    argument: &'static str,
    /// What it returns, for "returns {returns}".
    returns: &'static str,
}

const SEQUENCE: Export = Export {
    attribute: "sequence",
    what: "a sequence function",
    signature: "fn NAME(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()>",
    argument: "the context",
    returns: "`weir_sdk::Result<()>`",
};

const RENDER: Export = Export {
    attribute: "render",
    what: "a render function",
    signature: "fn NAME(frame: &weir_sdk::render::Frame) -> Result<Vec<weir_sdk::render::Artifact>, String>",
    argument: "the frame",
    returns: "`Result<Vec<weir_sdk::render::Artifact>, String>`",
};

/// Exports `fn NAME(ctx: &mut weir_sdk::Context) -> weir_sdk::Result<()>` as the plugin's
/// sequence. See `weir_sdk::sequence` for the documentation.
#[proc_macro_attribute]
pub fn sequence(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Exports `fn NAME(frame: &weir_sdk::render::Frame) -> Result<Vec<Artifact>, String>` as
/// the plugin's frame renderer. See `weir_sdk::render` for the documentation.
#[proc_macro_attribute]
pub fn render(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_render(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Parses the annotated function and checks what the type checker would report poorly.
fn parse_function(export: &Export, attr: TokenStream2, item: TokenStream2) -> syn::Result<ItemFn> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            format!("`#[weir_sdk::{}]` takes no arguments", export.attribute),
        ));
    }
    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        _ => {
            return Err(syn::Error::new_spanned(
                item,
                format!(
                    "`#[weir_sdk::{}]` goes on a function: `{}`",
                    export.attribute, export.signature
                ),
            ));
        }
    };
    check_signature(export, &func)?;
    Ok(func)
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let func = parse_function(&SEQUENCE, attr, item)?;
    let once = one_export_per_crate(&func);
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

        #once
    })
}

/// An item every export defines at the crate root under one name: a second `#[sequence]` or
/// `#[render]` in the crate is then a compile error that names the rule and points at both
/// functions, instead of a clash between generated symbols.
fn one_export_per_crate(func: &ItemFn) -> TokenStream2 {
    let name = proc_macro2::Ident::new(
        "weir_sdk_allows_one_sequence_or_render_function_per_crate",
        func.sig.ident.span(),
    );
    quote! {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #name {
            () => {};
        }
    }
}

fn expand_render(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let func = parse_function(&RENDER, attr, item)?;
    let once = one_export_per_crate(&func);
    let name = &func.sig.ident;
    // Spanned at the signature: a wrong argument or return type is reported there.
    let call = quote_spanned! {func.sig.span()=>
        ::weir_sdk::__private::render(#name, request)
    };
    Ok(quote! {
        #func

        #[doc(hidden)]
        struct __WeirRender;

        impl ::weir_sdk::__private::RenderGuest for __WeirRender {
            fn render(
                request: ::weir_sdk::__private::FrameRequest,
            ) -> ::core::result::Result<
                ::std::vec::Vec<::weir_sdk::__private::WitArtifact>,
                ::std::string::String,
            > {
                #call
            }
        }

        ::weir_sdk::__private::export_render!(__WeirRender);

        #once
    })
}

/// Checks what the type checker would report poorly; the types themselves it checks well.
fn check_signature(export: &Export, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    let refuse = |tokens: &dyn quote::ToTokens, what: &str| {
        Err(syn::Error::new_spanned(
            tokens,
            format!("{} {what}: `{}`", export.what, export.signature),
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
        0 => {
            let what = format!("takes one argument, {}", export.argument);
            return refuse(&sig.ident, &what);
        }
        _ => {
            let what = format!("takes exactly one argument, {}", export.argument);
            return refuse(&sig.inputs, &what);
        }
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return refuse(receiver, "is a free function, not a method");
    }
    if let ReturnType::Default = sig.output {
        return refuse(&sig.ident, &format!("returns {}", export.returns));
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
    fn a_render_function_expands_to_the_render_export() {
        let out = expand_render(
            TokenStream2::new(),
            quote! { fn draw(frame: &Frame) -> Result<Vec<Artifact>, String> { Ok(vec![]) } },
        )
        .map(|t| t.to_string())
        .unwrap_or_default();
        assert!(out.contains("export_render"), "{out}");
        assert!(
            out.contains(":: weir_sdk :: __private :: render (draw , request)"),
            "{out}"
        );
    }

    #[test]
    fn render_misuse_names_the_render_signature() {
        let error = |item| match expand_render(TokenStream2::new(), item) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        let e = error(quote! { fn f() -> R { } });
        assert!(
            e.contains("a render function takes one argument, the frame"),
            "{e}"
        );
        assert!(e.contains("weir_sdk::render::Frame"), "{e}");
        assert!(error(quote! { fn f(f: &Frame) { } }).contains("returns `Result<Vec<"));
        assert!(error(quote! { const X: u8 = 1; }).contains("`#[weir_sdk::render]` goes on"));
        assert!(expand_render(quote! { x }, quote! { fn f(f: &F) -> R { } }).is_err());
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
