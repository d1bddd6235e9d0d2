//! A saved plan edited by hand, and deploy steps that outlive their runner.
