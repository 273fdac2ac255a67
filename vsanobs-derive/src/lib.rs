//! Derive macros for [`vsanobs-core`](https://docs.rs/vsanobs-core) label types.
//!
//! * `#[derive(LabelSet)]` on a struct with named fields: each field is one label, in field
//!   order. `#[label(rename = "other")]` changes a label's name. The generated `hash_values`
//!   feeds each field through `LabelValue::hash_value` (the hash `Family` looks series up by),
//!   so equal fields must mean equal label sets: keep `PartialEq` derived too.
//! * `#[derive(LabelValue)]` on a field-less enum: each variant becomes a label value, in
//!   `snake_case` unless `#[label(rename = "...")]` says otherwise.
//!
//! Both are re-exported by `vsanobs-core`; use them from there.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input};

/// Derives `vsanobs_core::LabelSet` for a struct with named fields.
#[proc_macro_derive(LabelSet, attributes(label))]
pub fn derive_label_set(input: TokenStream) -> TokenStream {
    let ast = parse_macro_input!(input as DeriveInput);
    match label_set(&ast) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Derives `vsanobs_core::LabelValue` for a field-less enum.
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    let ast = parse_macro_input!(input as DeriveInput);
    match label_value(&ast) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn rename_of(attrs: &[syn::Attribute]) -> syn::Result<Option<String>> {
    let mut out = None;
    for attr in attrs {
        if !attr.path().is_ident("label") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let s: LitStr = meta.value()?.parse()?;
                out = Some(s.value());
                Ok(())
            } else {
                Err(meta.error("unsupported label attribute; expected `rename = \"...\"`"))
            }
        })?;
    }
    Ok(out)
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    !s.starts_with("__") && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_set(ast: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &ast.ident;
    let fields = match &ast.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => &f.named,
            Fields::Unit => {
                return Ok(quote! {
                    impl ::vsanobs_core::LabelSet for #name {
                        const NAMES: &'static [&'static str] = &[];
                        fn visit_values(&self, _f: &mut dyn FnMut(&str)) {}
                    }
                });
            }
            Fields::Unnamed(_) => {
                return Err(syn::Error::new_spanned(
                    name,
                    "LabelSet needs named fields: each field name is a label name",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                name,
                "LabelSet can only be derived for structs",
            ));
        }
    };
    let mut names = Vec::new();
    let mut idents = Vec::new();
    for f in fields {
        let ident = f.ident.clone().expect("named field");
        let label = match rename_of(&f.attrs)? {
            Some(r) => r,
            None => ident.to_string().trim_start_matches("r#").to_string(),
        };
        if !valid_label_name(&label) {
            return Err(syn::Error::new_spanned(
                f,
                format!(
                    "`{label}` is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                ),
            ));
        }
        if names.contains(&label) {
            return Err(syn::Error::new_spanned(
                f,
                format!("label `{label}` appears twice"),
            ));
        }
        names.push(label);
        idents.push(ident);
    }
    let names_lit: Vec<LitStr> = names
        .iter()
        .map(|n| LitStr::new(n, Span::call_site()))
        .collect();
    let (impl_g, ty_g, where_g) = ast.generics.split_for_impl();
    Ok(quote! {
        impl #impl_g ::vsanobs_core::LabelSet for #name #ty_g #where_g {
            const NAMES: &'static [&'static str] = &[#(#names_lit),*];
            fn visit_values(&self, f: &mut dyn FnMut(&str)) {
                #( ::vsanobs_core::LabelValue::visit(&self.#idents, f); )*
            }
            #[inline]
            fn hash_values<H: ::core::hash::Hasher>(&self, state: &mut H) {
                #( ::vsanobs_core::LabelValue::hash_value(&self.#idents, state); )*
            }
        }
    })
}

fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn label_value(ast: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &ast.ident;
    let Data::Enum(e) = &ast.data else {
        return Err(syn::Error::new_spanned(
            name,
            "LabelValue can only be derived for field-less enums",
        ));
    };
    let mut arms = Vec::new();
    for v in &e.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                v,
                "LabelValue variants must not carry data",
            ));
        }
        let ident = &v.ident;
        let value = rename_of(&v.attrs)?.unwrap_or_else(|| snake_case(&ident.to_string()));
        let lit = LitStr::new(&value, Span::call_site());
        arms.push(quote! { #name::#ident => #lit });
    }
    let (impl_g, ty_g, where_g) = ast.generics.split_for_impl();
    Ok(quote! {
        impl #impl_g ::vsanobs_core::LabelValue for #name #ty_g #where_g {
            fn visit(&self, f: &mut dyn FnMut(&str)) {
                f(match self { #(#arms),* })
            }
        }
    })
}
